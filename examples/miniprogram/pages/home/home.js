// Home: the signed-in user from GET /v1/me, through the SDK (bearer token, refresh on 401).

Page({
  data: {
    user: null,
    message: '',
  },

  onShow() {
    return this.load();
  },

  async load() {
    try {
      const res = await getApp().wxlogin.request({ url: '/v1/me' });
      this.setData({ user: res.data.user, message: '' });
    } catch (err) {
      if (err.code === 'unauthenticated') {
        wx.reLaunch({ url: '/pages/login/login' });
      } else {
        this.setData({ message: getApp().wxlogin.messageFor(err) });
      }
    }
  },

  onProfile() {
    wx.navigateTo({ url: '/pages/profile/profile' });
  },

  async onLogout() {
    await getApp().wxlogin.logout();
    wx.reLaunch({ url: '/pages/login/login?loggedOut=1' });
  },
});
