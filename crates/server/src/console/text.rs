//! Every text the console shows, in English and Simplified Chinese, in one table.
//!
//! A text is a [`T`] variant; [`T::get`] gives it in a language. The test below fails when a
//! text lacks its Chinese (empty, or left in English), so a new text cannot ship half done.

use crate::i18n::Lang;

macro_rules! texts {
    ($($key:ident => $en:literal, $zh:literal;)*) => {
        /// A text of the console.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum T {
            $(
                #[doc = $en]
                $key,
            )*
        }

        impl T {
            /// Every text, for the translation test.
            pub const ALL: &'static [T] = &[$(T::$key),*];

            /// `(English, Simplified Chinese)`.
            fn pair(self) -> (&'static str, &'static str) {
                match self {
                    $(T::$key => ($en, $zh),)*
                }
            }
        }
    };
}

impl T {
    /// The text in `lang`.
    pub fn get(self, lang: Lang) -> &'static str {
        let (en, zh) = self.pair();
        match lang {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }
}

texts! {
    Console => "wxlogin console", "wxlogin 管理控制台";
    SignInTitle => "Sign in", "登录";
    SignInHelp => "Sign in with an admin key (wxa_…). It is checked against the server and never stored in this browser: a session cookie of 8 hours names it.", "使用管理密钥（wxa_…）登录。密钥只在服务器端校验，不会保存在浏览器中：登录后由一个 8 小时有效的会话 Cookie 代表它。";
    AdminKey => "Admin key", "管理密钥";
    SignIn => "Sign in", "登录";
    SignOut => "Sign out", "退出登录";
    WrongKey => "That admin key is not valid (unknown or revoked).", "该管理密钥无效（不存在或已吊销）。";
    TooManyAttempts => "Too many sign-in attempts from this address. Wait a moment and try again.", "此地址的登录尝试过于频繁，请稍后再试。";
    SessionEnded => "Your session has ended. Sign in again.", "会话已结束，请重新登录。";
    SignedInAs => "Signed in as", "当前密钥";
    Scopes => "Scopes", "权限范围";
    Overview => "Overview", "概览";
    Users => "Users", "用户";
    Events => "Events", "事件";
    Keys => "Keys", "签名密钥";
    Language => "Language", "语言";
    Forbidden => "This admin key may not do that.", "此管理密钥无权执行该操作。";
    BadCsrf => "The form was stale or did not come from this console. Reload the page and try again.", "表单已过期或并非来自本控制台，请刷新页面后重试。";
    NotFound => "Not found.", "未找到。";
    Error => "Something went wrong", "出错了";
    Back => "Back", "返回";
    Done => "Done.", "已完成。";
    // Overview.
    TotalUsers => "Users", "用户总数";
    DisabledUsers => "Disabled", "已停用";
    Registrations24h => "Registrations, 24 h", "24 小时注册";
    SignIns24h => "Sign-ins, 24 h", "24 小时登录";
    Registrations => "Registrations", "注册";
    SignIns => "Sign-ins", "登录次数";
    Last24Hours => "Last 24 hours, per hour (UTC)", "最近 24 小时，按小时（UTC）";
    Last30Days => "Last 30 days, per day (UTC)", "最近 30 天，按天（UTC）";
    WeChatHealth => "WeChat API", "微信接口";
    WeChatHealthHelp => "Calls since this instance started, from its metrics.", "本实例启动以来的调用次数（来自其监控指标）。";
    Api => "API", "接口";
    Calls => "Calls", "调用";
    CallsOk => "OK", "成功";
    Errcodes => "Errors by errcode", "按 errcode 的错误";
    BreakerOpens => "Breaker opens", "熔断次数";
    ShortCircuited => "Refused while open", "熔断期间拒绝";
    NoCalls => "No WeChat calls yet.", "尚无微信接口调用。";
    AccessToken => "Access-token lease", "access_token 租约";
    LeaseShared => "shared through Redis", "通过 Redis 共享";
    LeaseFallback => "local: Redis failed, this instance fetches its own", "本地：Redis 故障，本实例自行获取";
    LeaseLocal => "local (no Redis configured)", "本地（未配置 Redis）";
    Webhooks => "Webhook deliveries", "Webhook 投递";
    Pending => "Pending", "待投递";
    DeadLetters => "Dead letters", "死信";
    ShowDeadLetters => "Show dead letters", "查看死信";
    // Users.
    SearchUsers => "Search users", "搜索用户";
    SearchHelp => "A phone number (+86…, or 11 digits), an openid, an external_id, or part of a nickname. Empty lists every user, newest first.", "手机号（+86… 或 11 位数字）、openid、external_id 或昵称的一部分。留空则按注册时间倒序列出全部用户。";
    Search => "Search", "搜索";
    NoUsers => "No user matches.", "没有匹配的用户。";
    NextPage => "Next page", "下一页";
    FirstPage => "First page", "第一页";
    UserId => "User id", "用户 ID";
    Nickname => "Nickname", "昵称";
    Phone => "Phone", "手机号";
    ExternalId => "external_id", "外部 ID（external_id）";
    Status => "Status", "状态";
    Active => "active", "正常";
    DisabledStatus => "disabled", "已停用";
    Created => "Created", "创建时间";
    LastLogin => "Last sign-in", "最近登录";
    Never => "never", "从未";
    LiveSessions => "Live sessions", "有效登录会话";
    Identities => "WeChat identities", "微信身份";
    App => "App", "小程序";
    OpenIdHidden => "hidden (needs users:pii)", "已隐藏（需要 users:pii）";
    HasUnionId => "unionid", "unionid";
    Bound => "Bound", "绑定时间";
    NoIdentities => "No WeChat identity is bound.", "未绑定微信身份。";
    RecentEvents => "Recent events", "最近事件";
    Actions => "Actions", "操作";
    Disable => "Disable", "停用";
    Enable => "Enable", "启用";
    RevokeSessions => "Revoke sessions", "注销全部会话";
    Unbind => "Unbind", "解绑";
    Delete => "Delete", "删除";
    DeleteHelp => "Deletes the account (注销): sessions, identities, phone and profile. Type the user id to confirm.", "删除账号（注销）：会话、微信身份、手机号和资料都将删除。请输入用户 ID 以确认。";
    DeleteConfirm => "Type the user id to confirm", "输入用户 ID 以确认";
    DeleteMismatch => "The typed text is not this user's id: nothing was deleted.", "输入的内容与用户 ID 不符，未删除任何数据。";
    UserDeleted => "The user was deleted.", "用户已删除。";
    ReadOnly => "This key may only read users (no users:write).", "此密钥只能查看用户（没有 users:write 权限）。";
    // Events.
    EventType => "Type", "类型";
    AnyType => "any type", "全部类型";
    UserFilter => "User id", "用户 ID";
    Filter => "Filter", "筛选";
    NoEvents => "No events.", "没有事件。";
    When => "When", "时间";
    Event => "Event", "事件";
    Deliveries => "Deliveries", "投递";
    Endpoint => "Endpoint", "端点";
    Attempts => "Attempts", "尝试次数";
    NextAttempt => "Next attempt", "下次尝试";
    LastError => "Last error", "最近错误";
    Payload => "Payload", "事件内容";
    Redeliver => "Redeliver", "重新投递";
    Older => "Older", "更早";
    Newest => "Newest", "最新";
    NoDeliveries => "No webhook delivery.", "没有 Webhook 投递。";
    // Keys.
    SigningKeys => "Token-signing keys", "令牌签名密钥";
    Kid => "Key id", "密钥 ID（kid）";
    Algorithm => "Algorithm", "算法";
    State => "State", "状态";
    SignsFrom => "Signs from", "开始签名";
    Rotate => "Rotate", "轮换";
    RotateHelp => "A new key is published at once and signs after the publish delay.", "新密钥立即发布，并在发布延迟之后开始签名。";
    RotationScheduled => "Rotation scheduled.", "已安排轮换。";
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts that read the same in both languages on purpose (names of things).
    const SAME_IN_BOTH: &[T] = &[T::HasUnionId];

    #[test]
    fn every_text_has_both_languages() {
        for &t in T::ALL {
            let (en, zh) = t.pair();
            assert!(!en.trim().is_empty(), "{t:?} has no English");
            assert!(!zh.trim().is_empty(), "{t:?} has no Chinese");
            if !SAME_IN_BOTH.contains(&t) {
                assert_ne!(en, zh, "{t:?} is not translated");
                assert!(
                    zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                    "{t:?}'s Chinese has no Chinese character: {zh}"
                );
            }
        }
    }
}
