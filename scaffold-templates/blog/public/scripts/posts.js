// Live posts on the home page and the blog index: models/Post.rhai sends `post:published`
// (a post went out, or a published post changed) and `post:withdrawn` to every open page.
// New posts wait under a "1 new post — show" bar; "show" puts them on top (on a first page;
// elsewhere it opens the first page). A post already shown follows its edits, and leaves
// when it is taken down. Needs /socket.io/socket.io.js first, and on the page:
//   <div id="new-posts" hidden><button type="button"></button></div>
//   <div id="posts" data-page="1" data-category="<id or empty>" data-limit="<max cards>">
(function () {
  var posts = document.getElementById("posts");
  var bar = document.getElementById("new-posts");
  if (!posts || !bar || typeof io !== "function") return;
  var button = bar.querySelector("button");
  var category = posts.dataset.category;
  var firstPage = posts.dataset.page === "1";
  var limit = Number(posts.dataset.limit) || 0;
  var waiting = [];

  function cardOf(id) {
    return posts.querySelector('[data-id="' + CSS.escape(id) + '"]');
  }
  function formatDate(iso) {
    return new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  }
  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }
  function render(post) {
    var card = document.createElement("article");
    card.className = "post-card";
    card.dataset.id = post.id;
    var title = document.createElement("h2");
    title.appendChild(link("/blog/post/" + encodeURIComponent(post.slug), post.title));
    card.appendChild(title);
    var byline = document.createElement("p");
    byline.className = "byline";
    if (post.published_at) {
      var time = document.createElement("time");
      time.dateTime = post.published_at;
      time.textContent = formatDate(post.published_at);
      byline.appendChild(time);
    }
    if (post.author) byline.appendChild(document.createTextNode(" · by " + post.author));
    (post.categories || []).forEach(function (c, i) {
      byline.appendChild(document.createTextNode(i === 0 ? " · in " : ", "));
      byline.appendChild(link("/blog/" + encodeURIComponent(c.slug), c.name));
    });
    card.appendChild(byline);
    if (post.brief) {
      var brief = document.createElement("div");
      brief.className = "brief";
      brief.innerHTML = post.brief; // rendered from markdown and sanitised on save
      card.appendChild(brief);
    }
    var more = link("/blog/post/" + encodeURIComponent(post.slug), "Read more →");
    more.className = "more";
    more.setAttribute("aria-label", "Read “" + post.title + "”");
    card.appendChild(more);
    return card;
  }
  function belongsHere(post) {
    return !category || (post.categories || []).some(function (c) { return c.id === category; });
  }
  function updateBar() {
    bar.hidden = waiting.length === 0;
    button.textContent = waiting.length === 1 ? "1 new post — show" : waiting.length + " new posts — show";
  }
  function forget(id) {
    waiting = waiting.filter(function (p) { return p.id !== id; });
  }

  var socket = io();
  socket.on("post:published", function (post) {
    var shown = cardOf(post.id);
    forget(post.id);
    if (shown && belongsHere(post)) {
      shown.replaceWith(render(post));
    } else if (shown) {
      shown.remove();
    } else if (belongsHere(post)) {
      waiting.unshift(post);
    }
    updateBar();
  });
  socket.on("post:withdrawn", function (post) {
    var shown = cardOf(post.id);
    if (shown) shown.remove();
    forget(post.id);
    updateBar();
  });
  button.addEventListener("click", function () {
    if (!firstPage) {
      location.href = location.pathname;
      return;
    }
    var empty = document.getElementById("no-posts");
    if (empty) empty.remove();
    var first;
    waiting.slice().reverse().forEach(function (post) {
      first = render(post);
      first.classList.add("is-new");
      posts.insertBefore(first, posts.firstChild);
    });
    waiting = [];
    updateBar();
    var cards = posts.querySelectorAll(".post-card");
    for (var i = limit; limit && i < cards.length; i++) cards[i].remove();
    if (first) {
      first.setAttribute("tabindex", "-1");
      first.focus();
    }
  });
})();
