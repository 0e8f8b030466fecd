// Sign in: wx.login on arrival (a known WeChat user goes straight home), else the
// getPhoneNumber button. Everything goes through getApp().wxlogin; what the user reads about an
// error is the SDK's messageFor(err) (Chinese by default; session_key_stale asks for another tap).

Page({
  data: {
    state: 'checking', // checking | phone | busy | error
    message: '',
  },

  onLoad(query) {
    // After a logout, wait for the user instead of signing them straight back in.
    if (query && query.loggedOut) {
      this.setData({ state: 'phone', message: '' });
      return Promise.resolve();
    }
    return this.signIn();
  },

  async signIn() {
    this.setData({ state: 'checking', message: '' });
    try {
      const result = await getApp().wxlogin.login();
      if (result.registered) {
        wx.reLaunch({ url: '/pages/home/home' });
        return;
      }
      this.setData({ state: 'phone' });
    } catch (err) {
      this.setData({ state: 'error', message: getApp().wxlogin.messageFor(err) });
    }
  },

  async onGetPhoneNumber(e) {
    this.setData({ state: 'busy', message: '' });
    try {
      const result = await getApp().wxlogin.loginWithPhone(e);
      this.setData({ state: 'phone' });
      if (result.registered) {
        wx.reLaunch({ url: '/pages/home/home' });
      } else {
        // The SDK keeps the ticket and the phone; the registration page reads them.
        wx.navigateTo({ url: '/pages/register/register' });
      }
    } catch (err) {
      this.setData({ state: 'phone', message: getApp().wxlogin.messageFor(err) });
    }
  },
});
