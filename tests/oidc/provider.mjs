// A real, independent OpenID Provider for onething's tests and local demo: the certified `oidc-provider`
// package (npm), configured for the demo people. Not a mock: discovery, JWKS, the authorization code flow
// with PKCE (S256, required), ID tokens with `acr`, UserInfo and RP-initiated logout are the package's own.
//
// Environment:
//   OP_PORT          port to listen on (127.0.0.1)
//   OP_CLIENTS       JSON list of clients: [{client_id, client_secret, redirect_uris, post_logout_redirect_uris}]
//   OP_ACCOUNTS      optional JSON list replacing the demo accounts: [{login, sub, password, max_acr, claims}]
//   OP_ACCOUNTS_FILE optional file with such a list, read again on every sign-in (a test changes the claims)
//   OP_PASSWORD      the demo accounts' password (default demo-password-2026)
//
// The sign-in page (/interaction/:uid) is ours: a plain form with 账号, 密码 and the verification method, which
// sets `acr` (L1 password, L2 real-name verified, L3 face verified) up to what the account allows. Consent is
// granted without a page (the clients are the platform's own).
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT || 8400);
const issuer = `http://127.0.0.1:${port}`;
const password = process.env.OP_PASSWORD || 'demo-password-2026';

const DEMO_ACCOUNTS = [
  { login: 'zhangsan', sub: 'demo-zhangsan', max_acr: 'L3',
    claims: { name: '张三（演示）', id_number: '110101199003070011' } },
  { login: 'lisi', sub: 'demo-lisi', max_acr: 'L2', claims: { name: '李四（演示）', id_number: '110101198511120025' } },
  { login: 'wangwu', sub: 'demo-wangwu', max_acr: 'L3', claims: { name: '王五（演示）', id_number: '110101199202150030' } },
  { login: 'demo-restaurant', sub: 'demo-restaurant', max_acr: 'L2',
    claims: { name: '示例餐饮有限公司（演示）', uscc: '91110105MA01ABCD00' } },
  { login: 'samr-officer', sub: 'demo-samr-officer', max_acr: 'L2',
    claims: { name: '市场监管窗口人员（演示）', staff_account: 'samr-staff', department: 'samr' } },
];
function loadAccounts() {
  let list = DEMO_ACCOUNTS;
  if (process.env.OP_ACCOUNTS_FILE) list = JSON.parse(readFileSync(process.env.OP_ACCOUNTS_FILE, 'utf8'));
  else if (process.env.OP_ACCOUNTS) list = JSON.parse(process.env.OP_ACCOUNTS);
  const accounts = list.map((account) => ({ password, ...account }));
  return { byLogin: new Map(accounts.map((a) => [a.login, a])), bySub: new Map(accounts.map((a) => [a.sub, a])) };
}
const LEVELS = ['L1', 'L2', 'L3'];
const LEVEL_NAMES = { L1: '密码登录', L2: '实名核验', L3: '人脸核验' };

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'op-1', use: 'sig', alg: 'RS256' };

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title>
<style>body{font-family:sans-serif;max-width:28rem;margin:1rem auto;padding:0 1rem;color:#1a1a1a}
label,input,button,fieldset{display:block;margin:.4rem 0;font-size:1rem}input[type=text],input[type=password]{width:100%;padding:.5rem}
button{padding:.6rem 1rem;background:#0b5cad;color:#fff;border:0}.error{color:#a00000}</style></head>
<body><main>${body}</main></body></html>`;

const configuration = {
  clients: JSON.parse(process.env.OP_CLIENTS || '[]'),
  jwks: { keys: [signingKey] },
  cookies: { keys: ['onething-test-op-cookie-key'] },
  pkce: { required: () => true, methods: ['S256'] },
  acrValues: LEVELS,
  claims: { acr: null, sid: null, openid: ['sub'], profile: ['name', 'id_number', 'uscc', 'staff_account', 'department'] },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = page('退出统一身份认证', `<h1>退出统一身份认证</h1><p>是否同时退出统一身份认证平台？</p>${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">确认退出</button>`);
      },
    },
  },
  async findAccount(ctx, sub) {
    const account = loadAccounts().bySub.get(sub);
    if (!account) return undefined;
    return { accountId: sub, async claims() { return { sub, ...account.claims }; } };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600 },
};

const provider = new Provider(issuer, configuration);

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function loginPage(uid, wanted, error = '', login = '') {
  const choices = LEVELS.map((level) => `<label><input type="radio" name="acr" value="${level}"${
    level === wanted ? ' checked' : ''}> ${LEVEL_NAMES[level]}（${level}）</label>`).join('');
  return page('统一身份认证登录', `<h1>统一身份认证登录（测试）</h1>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}">
<label for="login">账号</label><input id="login" name="login" type="text" value="${escape(login)}" autocomplete="username">
<label for="password">密码</label><input id="password" name="password" type="password" autocomplete="current-password">
<fieldset><legend>核验方式</legend>${choices}</fieldset>
<button type="submit">登录</button></form>`);
}

provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([A-Za-z0-9_-]+)$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params } = details;
  const requested = String(params.acr_values || '').split(' ').filter((v) => LEVELS.includes(v));
  const wanted = requested.length ? requested.sort().at(-1) : 'L2';
  if (prompt.name === 'consent') {
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    const to = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } },
      { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(to);
    return undefined;
  }
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = loginPage(details.uid, wanted);
    return undefined;
  }
  const form = await readForm(ctx.req);
  const account = loadAccounts().byLogin.get(form.get('login') || '');
  const acr = form.get('acr') || wanted;
  if (!account || form.get('password') !== account.password) {
    ctx.type = 'html';
    ctx.status = 400;
    ctx.body = loginPage(details.uid, wanted, '账号或密码错误', form.get('login') || '');
    return undefined;
  }
  if (!LEVELS.includes(acr) || LEVELS.indexOf(acr) > LEVELS.indexOf(account.max_acr)) {
    ctx.type = 'html';
    ctx.status = 400;
    ctx.body = loginPage(details.uid, wanted, `该账号无法完成${LEVEL_NAMES[acr] || acr}`, account.login);
    return undefined;
  }
  const to = await provider.interactionResult(ctx.req, ctx.res,
    { login: { accountId: account.sub, acr, amr: acr === 'L3' ? ['face'] : ['pwd'] } },
    { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
  return undefined;
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
