// Registration: the phone comes prefilled from the ticket the SDK kept after loginWithPhone;
// the user may pick an avatar (<button open-type="chooseAvatar">) and a nickname
// (<input type="nickname">), both optional.

// chooseAvatar yields a temporary local file. The server only stores an https URL, so an app
// uploads the file to its own storage first (wx.uploadFile) and sends the URL it gets back.
// This example has no such storage: it sends an avatar only when it already is an https URL.
function avatarForServer(path) {
  return /^https:\/\//.test(path) ? path : undefined;
}

Page({
  data: {
    phone: '',
    avatarUrl: '',
    busy: false,
    message: '',
  },

  onLoad() {
    const pending = getApp().wxlogin.getPendingRegistration();
    if (!pending) {
      // No ticket (expired, or the page was opened directly): back to the phone button.
      wx.redirectTo({ url: '/pages/login/login?loggedOut=1' });
      return;
    }
    this.setData({ phone: pending.phone.phone_number });
  },

  onChooseAvatar(e) {
    this.setData({ avatarUrl: e.detail.avatarUrl });
  },

  // The nickname is read from the form on submit: a nickname picked from WeChat's keyboard
  // suggestion does not always fire an input event.
  async onSubmit(e) {
    const nickname = String((e.detail.value && e.detail.value.nickname) || '').trim();
    this.setData({ busy: true, message: '' });
    try {
      await getApp().wxlogin.register({ nickname, avatarUrl: avatarForServer(this.data.avatarUrl) });
      this.setData({ busy: false });
      wx.reLaunch({ url: '/pages/home/home' });
    } catch (err) {
      this.setData({ busy: false });
      if (err.code === 'ticket_invalid' || err.code === 'already_registered') {
        // The ticket is spent or expired: verify the phone again (a registered phone signs in).
        wx.showModal({ title: 'Please sign in again', content: 'Your registration has expired.', showCancel: false });
        wx.reLaunch({ url: '/pages/login/login?loggedOut=1' });
      } else if (err.code === 'invalid_request') {
        this.setData({ message: 'Please check the nickname (at most 64 characters).' });
      } else {
        this.setData({ message: 'Registration failed (' + err.code + '). Please try again.' });
      }
    }
  },
});
