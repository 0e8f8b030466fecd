// Sign in: wx.login on arrival (a known WeChat user goes straight home), else the
// getPhoneNumber button. Everything goes through getApp().wxlogin.

// What the user sees for an SDK error; err.message is written for developers except where noted.
function messageFor(err) {
  switch (err && err.code) {
    case 'permission_denied':
      return 'The phone number is needed to sign in. Tap the button and allow it.';
    case 'session_key_stale':
      return err.message; // the SDK's own "please tap the button again"
    case 'network_error':
    case 'wechat_unavailable':
    case 'unavailable':
      return 'The network is having trouble. Please try again.';
    case 'rate_limited':
      return 'Too many attempts. Please wait a moment.';
    case 'registration_closed':
      return 'Registration is closed.';
    case 'login_blocked':
      return 'This WeChat account cannot sign in.';
    default:
      return 'Sign-in failed (' + (err && err.code) + '). Please try again.';
  }
}

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
      this.setData({ state: 'error', message: messageFor(err) });
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
      this.setData({ state: 'phone', message: messageFor(err) });
    }
  },
});
