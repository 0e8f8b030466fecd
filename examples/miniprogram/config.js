// Where the wxlogin server is. `wxlogin serve --dev` listens on 127.0.0.1:9012; on a phone
// this must be an https domain listed under the mini program's "request legal domains".
module.exports = {
  baseUrl: 'http://127.0.0.1:9012',
};
