//! The files under `public/`, with a content hash each for cache-busting `asset()` URLs.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files larger than this are fingerprinted by size and mtime instead of content.
const HASH_LIMIT: u64 = 8 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct PublicFiles {
    pub root: PathBuf,
    /// URL path (`/styles/site.css`) → short content hash.
    pub files: BTreeMap<String, String>,
    /// URL path → source of the `.js` files (browser code the socket rules read).
    pub scripts: BTreeMap<String, String>,
}

impl PublicFiles {
    pub fn scan(root: PathBuf) -> Self {
        let mut files = BTreeMap::new();
        walk(&root, &root, &mut files);
        let scripts = files
            .keys()
            .filter(|p| p.ends_with(".js"))
            .filter_map(|p| Some((p.clone(), std::fs::read_to_string(root.join(p.trim_start_matches('/'))).ok()?)))
            .collect();
        PublicFiles { root, files, scripts }
    }

    /// `/styles/site.css` → `/styles/site.css?v=1a2b3c4d`; unknown paths come back unchanged.
    pub fn asset_url(&self, path: &str) -> String {
        // Pushed, not `format!`ted: pages call this for every asset, and the formatter costs
        // about 1,000 instructions a call.
        let mut url = String::with_capacity(path.len() + 24);
        if !path.starts_with('/') {
            url.push('/');
        }
        url.push_str(path);
        if let Some(hash) = self.files.get(url.as_str()) {
            url.push_str("?v=");
            url.push_str(hash);
        }
        url
    }
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            walk(root, &path, files);
        } else if meta.is_file() {
            let url = format!("/{}", crate::diagnostic::relative(root, &path));
            files.insert(url, fingerprint(&path, &meta));
        }
    }
}

fn fingerprint(path: &Path, meta: &std::fs::Metadata) -> String {
    let bytes = if meta.len() <= HASH_LIMIT {
        std::fs::read(path).unwrap_or_default()
    } else {
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        format!("{}:{:?}", meta.len(), mtime).into_bytes()
    };
    format!("{:08x}", fnv1a(&bytes) as u32)
}

/// FNV-1a: a fast, stable hash for fingerprints (not for security).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Decodes `%XX` escapes of a URL path; `None` for invalid UTF-8 or a NUL byte.
pub fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    (!text.contains('\0')).then_some(text)
}
