// The counter contract on express-session, for bench/run.sh:
//
//   node app.js [PORT] [--store memory|file|redis] [--path DIR] [--url redis://HOST:PORT]
//
// GET / counts visits in the session and answers {"count": N}, GET /peek
// answers the count without modifying the session, GET /hello answers "hello"
// without a session (registered before the middleware). The options are the
// seed's: resave false, saveUninitialized false; the file store is
// session-file-store with its defaults (write-file-atomic, which fsyncs) and
// the five-year cookie of the seed's file demo. Only its logging is silenced,
// so that lock retries under concurrent writers do not measure the console.
// The Redis store is connect-redis 9 on one `redis` 5 client (node-redis),
// with its defaults (prefix sess:, TTL from the cookie, touch on) and the same
// five-year cookie, named _rs_demo as in the counter example's Redis demo.
'use strict';
const express = require('express');
const session = require('express-session');

const args = process.argv.slice(2);
let port = process.env.PORT || 8083;
let store = 'memory';
let path = './session-store';
let url = 'redis://127.0.0.1:6379';
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--store') store = args[++i];
  else if (args[i] === '--path') path = args[++i];
  else if (args[i] === '--url') url = args[++i];
  else port = args[i];
}
const host = process.env.HOST || '127.0.0.1';
const secret = process.env.SESSION_SECRET || 'counter example development secret';

let redis = null;
const options = {
  secret,
  resave: false,
  saveUninitialized: false,
};
if (store === 'memory') {
  options.name = '_es_demo';
} else if (store === 'file') {
  const FileStore = require('session-file-store')(session);
  options.store = new FileStore({ path, logFn: function () {} });
  options.name = '_fs_demo';
  options.cookie = { maxAge: 1000 * 60 * 60 * 24 * 365 * 5 };
} else if (store === 'redis') {
  const { RedisStore } = require('connect-redis');
  const { createClient } = require('redis');
  redis = createClient({ url });
  redis.on('error', function (err) {
    console.error('redis: ' + err.message);
  });
  options.store = new RedisStore({ client: redis });
  options.name = '_rs_demo';
  options.cookie = { maxAge: 1000 * 60 * 60 * 24 * 365 * 5 };
} else {
  console.error('unknown store ' + store + ': use memory, file or redis');
  process.exit(1);
}

const app = express();
app.get('/hello', function (req, res) {
  res.type('text/plain').send('hello');
});
app.use(session(options));
app.get('/', function (req, res) {
  req.session.count = (req.session.count || 0) + 1;
  res.json({ count: req.session.count });
});
app.get('/peek', function (req, res) {
  res.json({ count: req.session.count || 0 });
});
app.post('/logout', function (req, res) {
  req.session.destroy(function () {
    res.json({ count: 0 });
  });
});

function listen() {
  app.listen(port, host, function () {
    console.log('express-session (' + store + ') listening on http://' + host + ':' + port);
  });
}
if (redis) {
  redis.connect().then(listen, function (err) {
    console.error('cannot connect to ' + url + ': ' + err.message);
    process.exit(1);
  });
} else {
  listen();
}
