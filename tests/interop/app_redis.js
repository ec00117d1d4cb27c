// The counter demo on express-session + connect-redis, for tests/redis_interop.rs:
// the counter example's routes, cookie and lifetime (examples/counter.rs with
// `--store redis`), so the two can share one Redis and one cookie.
//
//   PORT=8080 REDIS_URL=redis://127.0.0.1:6379 SESSION_SECRET=... node app_redis.js
//
// GET /        counts visits in the session, answers {"count": N}
// GET /peek    the count, without changing the session
// POST /logout ends the session, answers {"count": 0}
// GET /hello   "hello", without a session
// GET /extra   stores a nested object and a key the counter's schema does not
//              know (`profile`, `legacy`), answers {"count": N}
// GET /echo    answers {"count", "profile", "legacy"} as loaded, unchanged
const express = require('express');
const session = require('express-session');
const { RedisStore } = require('connect-redis');
const { createClient } = require('redis');

const secret = process.env.SESSION_SECRET || 'notThatSecretSecret';
const port = process.env.PORT || process.argv[2] || 8080;
const url = process.env.REDIS_URL || process.argv[3] || 'redis://127.0.0.1:6379';

const client = createClient({ url });
client.on('error', (err) => console.error('redis client error:', err));

const app = express();
app.use('/hello', (req, res) => res.type('text/plain').send('hello'));
app.use(session({
  // connect-redis's defaults: prefix "sess:", JSON, ttl from cookie.expires.
  store: new RedisStore({ client }),
  name: '_rs_demo',
  secret: secret,
  resave: false,
  saveUninitialized: false,
  cookie: {
    // five year cookie, as the counter example's
    maxAge: 1000 * 60 * 60 * 24 * 365 * 5,
  },
}));

app.get('/', (req, res) => {
  req.session.count = (req.session.count || 0) + 1;
  res.json({ count: req.session.count });
});

app.get('/peek', (req, res) => {
  res.json({ count: req.session.count || 0 });
});

app.post('/logout', (req, res, next) => {
  req.session.destroy((err) => {
    if (err) return next(err);
    res.json({ count: 0 });
  });
});

// Values whose JSON text a re-encoding would change: keys out of
// alphabetical order, numbers JavaScript writes its own way (1e+21, 1.5,
// 0.1 + 0.2), escapes, non-ASCII text, nulls and empty containers.
app.get('/extra', (req, res) => {
  req.session.count = (req.session.count || 0) + 1;
  req.session.profile = {
    name: 'ada',
    tags: ['x', { y: 1.50, big: 1e21, tiny: 5e-7, sum: 0.1 + 0.2 }],
    zeta: null,
    alpha: { empty: {}, list: [], yes: true, no: false },
  };
  req.session.legacy = 'kept as written: caf\u00e9 \u2603 "quoted" back\\slash\ttab </script> \u0001';
  res.json({ count: req.session.count });
});

app.get('/echo', (req, res) => {
  res.json({
    count: req.session.count || 0,
    profile: req.session.profile,
    legacy: req.session.legacy,
  });
});

client.connect().then(() => {
  app.listen(port, '127.0.0.1', () => {
    console.log('connect-redis demo is up on port: ' + port);
  });
}, (err) => {
  console.error('cannot connect to ' + url + ':', err);
  process.exit(1);
});
