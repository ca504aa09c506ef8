// A tiny client-side router with parameters, guards and a history listener.
'use strict';

class Router {
  constructor(root = document.getElementById('app')) {
    this.root = root;
    this.routes = [];
    this.guards = [];
    window.addEventListener('popstate', () => this.resolve(location.pathname));
  }

  add(pattern, render) {
    const keys = [];
    const regex = new RegExp(
      '^' + pattern.replace(/:(\w+)/g, (_, key) => { keys.push(key); return '([^/]+)'; }) + '/?$'
    );
    this.routes.push({ regex, keys, render });
    return this;
  }

  guard(fn) {
    this.guards.push(fn);
    return this;
  }

  async navigate(path, { replace = false } = {}) {
    for (const check of this.guards) {
      const verdict = await check(path);
      if (verdict === false) return false;
      if (typeof verdict === 'string') return this.navigate(verdict, { replace: true });
    }
    if (replace) history.replaceState({}, '', path);
    else history.pushState({}, '', path);
    return this.resolve(path);
  }

  resolve(path) {
    for (const { regex, keys, render } of this.routes) {
      const match = path.match(regex);
      if (!match) continue;
      const params = Object.fromEntries(keys.map((k, i) => [k, decodeURIComponent(match[i + 1])]));
      this.root.innerHTML = render(params);
      return true;
    }
    this.root.innerHTML = `<h1>404</h1><p>No page at <code>${path}</code>.</p>`;
    return false;
  }
}

const router = new Router()
  .add('/', () => '<h1>Home</h1>')
  .add('/users/:id', ({ id }) => `<h1>User ${id}</h1>`)
  .add('/posts/:year/:slug', ({ year, slug }) => `<article data-year="${year}">${slug}</article>`)
  .guard((path) => (path.startsWith('/admin') && !localStorage.getItem('token') ? '/login' : true));

document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-link]');
  if (!link) return;
  event.preventDefault();
  router.navigate(link.getAttribute('href'));
});

export default router;
