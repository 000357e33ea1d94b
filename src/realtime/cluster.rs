//! Broadcasts between nodes (`[sockets] adapter = "redis://…"`): every node publishes its
//! broadcasts and disconnects on one Redis channel, in order, and applies the other nodes'
//! to its own sockets. Fire and forget, as socket.io's Redis adapter: a node that cannot
//! reach Redis still serves its own sockets, and says so.
use std::sync::Arc;

use bytes::Bytes;
use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{EventInterface as _, PubsubInterface as _};
use serde::{Deserialize, Serialize};

use super::{Io, Sid};

/// Messages waiting to be published before more are dropped (Redis is away or slow).
const BACKLOG: usize = 10_000;

/// What one node asks of the others.
pub enum Op {
    Emit { ns: String, rooms: Vec<String>, except: Option<Sid>, packet: Bytes },
    Disconnect { ns: String, rooms: Vec<String>, except: Option<Sid> },
}

/// One message on the channel.
#[derive(Serialize, Deserialize)]
struct Wire {
    /// The node that sent it (it skips its own).
    node: u64,
    ns: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rooms: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    except: Option<String>,
    /// The encoded engine packet to send; none means disconnect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    emit: Option<String>,
}

/// This node's link to the others.
pub struct Cluster {
    node: u64,
    outbox: tokio::sync::mpsc::Sender<String>,
    dropped: Arc<crate::log::Occasional>,
}

/// A node's Redis clients, subscribed to the cluster's channel.
pub struct Subscribed {
    publisher: Client,
    subscriber: SubscriberClient,
    messages: tokio::sync::broadcast::Receiver<fred::types::Message>,
    channel: String,
}

impl Subscribed {
    /// Subscribes `subscriber` (a RESP3 client, already connected) to `channel`; the
    /// subscription is renewed after every reconnect. `publisher` will send.
    pub async fn connect(
        publisher: Client,
        subscriber: SubscriberClient,
        channel: String,
    ) -> Result<Subscribed, fred::error::Error> {
        let messages = subscriber.message_rx();
        subscriber.subscribe(channel.clone()).await?;
        subscriber.manage_subscriptions();
        Ok(Subscribed { publisher, subscriber, messages, channel })
    }
}

impl Cluster {
    /// Starts sharing `io`'s broadcasts with the other nodes.
    pub fn start(io: &Io, link: Subscribed) -> Cluster {
        let Subscribed { publisher, subscriber, mut messages, channel } = link;
        let node: u64 = rand::random();
        let weak = Arc::downgrade(&io.0);
        tokio::spawn(async move {
            let _subscriber = subscriber;
            loop {
                let message = match messages.recv().await {
                    Ok(message) => message,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        crate::log::warning(&format!("redis: {missed} socket broadcast(s) from other nodes missed"));
                        continue;
                    }
                    Err(_) => return,
                };
                let Some(shared) = weak.upgrade() else { return };
                let Some(text) = message.value.as_str() else { continue };
                match serde_json::from_str::<Wire>(&text) {
                    Ok(wire) if wire.node != node => apply(&Io(shared), wire),
                    Ok(_) => {}
                    Err(err) => crate::log::debug(&format!("redis: unreadable socket broadcast: {err}")),
                }
            }
        });
        let (outbox, mut queued) = tokio::sync::mpsc::channel::<String>(BACKLOG);
        let dropped = Arc::new(crate::log::Occasional::new(std::time::Duration::from_secs(10)));
        let failures = dropped.clone();
        tokio::spawn(async move {
            while let Some(message) = queued.recv().await {
                if let Err(err) = publisher.publish::<(), _, _>(channel.as_str(), message).await
                    && let Some(n) = failures.tick()
                {
                    crate::log::error(&format!(
                        "redis: {n} socket broadcast(s) not shared with the other nodes: {err}"
                    ));
                }
            }
        });
        Cluster { node, outbox, dropped }
    }

    /// Tells the other nodes (in the order of the calls).
    pub fn publish(&self, op: Op) {
        let wire = match op {
            Op::Emit { ns, rooms, except, packet } => Wire {
                node: self.node,
                ns,
                rooms,
                except: except.map(|s| s.to_string()),
                emit: Some(String::from_utf8_lossy(&packet).into_owned()),
            },
            Op::Disconnect { ns, rooms, except } => {
                Wire { node: self.node, ns, rooms, except: except.map(|s| s.to_string()), emit: None }
            }
        };
        let Ok(text) = serde_json::to_string(&wire) else { return };
        if self.outbox.try_send(text).is_err()
            && let Some(n) = self.dropped.tick()
        {
            crate::log::error(&format!(
                "redis: {n} socket broadcast(s) not shared with the other nodes (Redis is slow or away)"
            ));
        }
    }
}

/// Another node's broadcast, applied to this node's sockets.
fn apply(io: &Io, wire: Wire) {
    let Some(ns) = io.of(&wire.ns) else { return };
    let except = wire.except.as_deref().and_then(Sid::parse);
    match wire.emit {
        Some(packet) => {
            let _ = ns.deliver(&wire.rooms, except, &super::packet::Outgoing::Text(Bytes::from(packet)));
        }
        None => ns.disconnect_local(&wire.rooms, except),
    }
}
