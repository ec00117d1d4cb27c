// The seed's session-file-store demo (the express-session article, section 4),
// made configurable for tests/interop.rs: the port from PORT or the first
// argument, the session directory from SESSION_PATH or the second argument,
// the secret from SESSION_SECRET. Everything else is as in the seed.
let express = require('express'),
session = require('express-session'),
FileStore = require('session-file-store')(session),

secret = process.env.SESSION_SECRET || 'notThatSecretSecret',
port = process.env.PORT || process.argv[2] || 8080,
storePath = process.env.SESSION_PATH || process.argv[3] || './session-store',
app = express();

//use express-session
app.use(session({

        // using FileStore with express-session
        // as the sore method, replacing the default memory store
        store: new FileStore({

            path: storePath

        }),
        name: '_fs_demo', // cookie will show up as foo site
        secret: secret,
        resave: false,
        saveUninitialized: false,
        cookie: {

            // five year cookie
            maxAge: 1000 * 60 * 60 * 24 * 365 * 5

        }
    }));

app.get('/', function (req, res) {

    // simple count for the session
    if (!req.session.count) {
        req.session.count = 0;
    }
    req.session.count += 1;

    // send info as json
    res.json(req.session);

});

app.listen(port, '127.0.0.1', function () {

    console.log('session-filestore demo is up on port: ' + port);

});
