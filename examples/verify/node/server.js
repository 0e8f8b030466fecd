// A back end that trusts wxlogin: `WXLOGIN_ISSUER=http://127.0.0.1:9012 node server.js`,
// then `curl -H "Authorization: Bearer $TOKEN" localhost:3000/orders`.
'use strict';

const express = require('express');
const { requireWxlogin } = require('./middleware');
const { requireWxloginJose } = require('./jose-middleware');

function app({ issuer, audience = 'wxlogin', library = 'jsonwebtoken', jwksMaxAgeMs }) {
  const options = { issuer, audience, jwksMaxAgeMs };
  const auth = library === 'jose' ? requireWxloginJose(options) : requireWxlogin(options);
  const app = express();
  app.get('/orders', auth, (req, res) => res.json({ user: req.user.sub, appid: req.user.appid }));
  return app;
}

if (require.main === module) {
  const issuer = process.env.WXLOGIN_ISSUER || 'http://127.0.0.1:9012';
  app({ issuer }).listen(Number(process.env.PORT || 3000));
}

module.exports = { app };
