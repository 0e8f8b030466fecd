// Registration: the phone comes prefilled from the ticket the SDK kept after loginWithPhone;
// the user may pick an avatar (<button open-type="chooseAvatar">) and a nickname
// (<input type="nickname">), both optional.
//
// chooseAvatar yields a temporary local file. It is uploaded at once to the wxlogin server with
// the registration ticket (the user has no token yet), and the URL the server gives back is
// what register() sends.

Page({
  data: {
    phone: '',
    avatarPreview: '', // the temporary file, shown while it uploads
    avatarUrl: '', // the server's URL once uploaded
    uploading: false,
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

  async onChooseAvatar(e) {
    const wxlogin = getApp().wxlogin;
    const pending = wxlogin.getPendingRegistration();
    this.setData({ avatarPreview: e.detail.avatarUrl, avatarUrl: '', uploading: true, message: '' });
    try {
      const { avatarUrl } = await wxlogin.uploadAvatar(e.detail.avatarUrl, {
        registrationTicket: pending ? pending.ticket : undefined,
      });
      this.setData({ avatarUrl, uploading: false });
    } catch (err) {
      // Registration goes on without an avatar; the message says why it was not kept.
      this.setData({ avatarPreview: '', uploading: false, message: wxlogin.messageFor(err) });
    }
  },

  // The nickname is read from the form on submit: a nickname picked from WeChat's keyboard
  // suggestion does not always fire an input event.
  async onSubmit(e) {
    if (this.data.uploading) return; // the button is disabled meanwhile; a fast tap waits
    const wxlogin = getApp().wxlogin;
    const nickname = String((e.detail.value && e.detail.value.nickname) || '').trim();
    this.setData({ busy: true, message: '' });
    try {
      await wxlogin.register({ nickname, avatarUrl: this.data.avatarUrl || undefined });
      this.setData({ busy: false });
      wx.reLaunch({ url: '/pages/home/home' });
    } catch (err) {
      this.setData({ busy: false });
      if (err.code === 'ticket_invalid' || err.code === 'already_registered') {
        // The ticket is spent or expired: verify the phone again (a registered phone signs in).
        wx.showModal({ title: '请重新登录', content: wxlogin.messageFor(err), showCancel: false });
        wx.reLaunch({ url: '/pages/login/login?loggedOut=1' });
      } else if (err.code === 'invalid_request') {
        this.setData({ message: '请检查昵称（最多 64 个字）' });
      } else {
        this.setData({ message: wxlogin.messageFor(err) });
      }
    }
  },
});
