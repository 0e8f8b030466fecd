// 个人资料: the signed-in user's avatar, nickname and phone; export and deletion (注销) of the
// account. Everything goes through getApp().wxlogin; the texts shown for errors are the SDK's
// own (messageFor), Chinese by default.

// wx.showModal as a promise of its answer.
function confirmModal(options) {
  return new Promise((resolve) => {
    wx.showModal(
      Object.assign({}, options, {
        success: (res) => resolve(!!res.confirm),
        fail: () => resolve(false),
      })
    );
  });
}

Page({
  data: {
    user: null,
    busy: '', // '' | 'avatar' | 'nickname' | 'phone' | 'export' | 'delete'
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
      this.fail(err);
    }
  },

  // An SDK error: back to the login page once the sign-in has ended, a message otherwise.
  fail(err) {
    this.setData({ busy: '' });
    if (err.code === 'unauthenticated') {
      wx.reLaunch({ url: '/pages/login/login' });
      return;
    }
    this.setData({ message: getApp().wxlogin.messageFor(err) });
  },

  // <button open-type="chooseAvatar">: a temporary file, uploaded to the wxlogin server, whose
  // URL then becomes the profile's avatar.
  async onChooseAvatar(e) {
    const wxlogin = getApp().wxlogin;
    this.setData({ busy: 'avatar', message: '' });
    try {
      const { avatarUrl } = await wxlogin.uploadAvatar(e.detail.avatarUrl);
      const { user } = await wxlogin.updateProfile({ avatarUrl });
      this.setData({ user, busy: '' });
      wx.showToast({ title: '头像已更新', icon: 'success' });
    } catch (err) {
      this.fail(err);
    }
  },

  async onRemoveAvatar() {
    this.setData({ busy: 'avatar', message: '' });
    try {
      const { user } = await getApp().wxlogin.updateProfile({ avatarUrl: null });
      this.setData({ user, busy: '' });
    } catch (err) {
      this.fail(err);
    }
  },

  // The nickname is read from the form on submit: a nickname picked from WeChat's keyboard
  // suggestion (<input type="nickname">) does not always fire an input event.
  async onSaveNickname(e) {
    const nickname = String((e.detail.value && e.detail.value.nickname) || '').trim();
    if (!nickname) {
      this.setData({ message: '昵称不能为空' });
      return;
    }
    if (this.data.user && nickname === this.data.user.nickname) return;
    this.setData({ busy: 'nickname', message: '' });
    try {
      const { user } = await getApp().wxlogin.updateProfile({ nickname });
      this.setData({ user, busy: '' });
      wx.showToast({ title: '昵称已保存', icon: 'success' });
    } catch (err) {
      this.fail(err);
    }
  },

  // <button open-type="getPhoneNumber">: the SDK logs in silently for a session of this user
  // and sends the new number's proof.
  async onChangePhone(e) {
    this.setData({ busy: 'phone', message: '' });
    try {
      const { user } = await getApp().wxlogin.changePhone(e);
      this.setData({ user, busy: '' });
      wx.showToast({ title: '手机号已更换', icon: 'success' });
    } catch (err) {
      this.fail(err);
    }
  },

  // Everything the server holds about the user, copied for them (PIPL access and portability).
  async onExport() {
    this.setData({ busy: 'export', message: '' });
    try {
      const data = await getApp().wxlogin.exportAccount();
      this.setData({ busy: '' });
      wx.setClipboardData({ data: JSON.stringify(data, null, 2) });
    } catch (err) {
      this.fail(err);
    }
  },

  async onDeleteAccount() {
    const confirmed = await confirmModal({
      title: '注销账号',
      content: '注销后，你的资料、手机号和登录记录都会被删除，且无法恢复。确定要注销吗？',
      confirmText: '注销',
      confirmColor: '#d93025',
    });
    if (!confirmed) return;
    this.setData({ busy: 'delete', message: '' });
    try {
      await getApp().wxlogin.deleteAccount();
      wx.showToast({ title: '账号已注销', icon: 'success' });
      wx.reLaunch({ url: '/pages/login/login?loggedOut=1' });
    } catch (err) {
      this.fail(err);
    }
  },
});
