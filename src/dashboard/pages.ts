/** The login page is rendered here (it carries its CSRF token); the rest is static files. */

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

export function loginPage(options: { csrfToken: string; message?: string }): string {
  const message = options.message ? `<p class="error" role="alert">${escapeHtml(options.message)}</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Bot dashboard</title>
<link rel="stylesheet" href="/admin/assets/style.css">
<link rel="icon" href="/admin/assets/favicon.svg" type="image/svg+xml">
</head>
<body class="login">
<main>
<h1>Bot dashboard</h1>
${message}
<form method="post" action="/admin/login">
<input type="hidden" name="_csrf" value="${escapeHtml(options.csrfToken)}">
<label for="token">Dashboard token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
<p class="hint">The token is DASHBOARD_TOKEN (or DASHBOARD_READONLY_TOKEN for a view-only session).</p>
</main>
</body>
</html>
`;
}
