// A post page follows its post: models/Post.rhai sends `post:published` when a published
// post changes and `post:withdrawn` when it is taken down. The reader keeps what they are
// reading; a bar says what happened and offers the new version. Needs
// /socket.io/socket.io.js first, and on the page:
//   <article data-id="<post id>"> and <div id="post-changed" hidden><p></p><a></a></div>
(function () {
  var article = document.querySelector("article[data-id]");
  var bar = document.getElementById("post-changed");
  if (!article || !bar || typeof io !== "function") return;
  var id = article.dataset.id;
  var text = bar.querySelector("p");
  var action = bar.querySelector("a");

  function show(message, label, href) {
    text.textContent = message;
    action.textContent = label;
    action.href = href;
    bar.hidden = false;
  }

  var socket = io();
  socket.on("post:published", function (post) {
    if (post.id !== id) return;
    show("This post has been updated.", "Read the new version", "/blog/post/" + encodeURIComponent(post.slug));
  });
  socket.on("post:withdrawn", function (post) {
    if (post.id !== id) return;
    show("This post has been taken down.", "All posts", "/blog");
  });
})();
