// Type declarations for @wxlogin/miniprogram. Shapes of server data (User, Phone) are the
// server's JSON, snake_case, as docs/api.md defines them.

/** Error codes: the server's (docs/api.md) plus the SDK's own. */
export type WxLoginErrorCode =
  // the SDK's own
  | 'network_error' // wx.login or wx.request failed; status 0
  | 'permission_denied' // the user refused the phone number; nothing was sent
  | 'http_error' // a non-2xx answer without the wxlogin error body (another API)
  // the server's
  | 'invalid_request'
  | 'unknown_app'
  | 'login_code_invalid'
  | 'login_code_used'
  | 'login_blocked'
  | 'session_invalid'
  | 'phone_code_invalid'
  | 'session_key_stale'
  | 'payload_malformed'
  | 'appid_mismatch'
  | 'watermark_expired'
  | 'ticket_invalid'
  | 'registration_closed'
  | 'already_registered'
  | 'unauthenticated'
  | 'refresh_token_invalid'
  | 'refresh_token_reused'
  | 'user_disabled' // 403: the account is disabled
  | 'phone_bound_elsewhere' // 409: the phone's account already has another WeChat account in this app
  | 'phone_taken' // 409 (changePhone): another account holds the number
  | 'image_invalid' // 422 (uploadAvatar): not a JPEG, PNG or WebP image
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'rate_limited'
  | 'wechat_error'
  | 'wechat_unavailable'
  | 'unavailable'
  | 'internal';

export class WxLoginError extends Error {
  readonly name: 'WxLoginError';
  /** Stable and machine readable: switch on this, not on `message`. */
  readonly code: WxLoginErrorCode | (string & {});
  /** HTTP status; 0 when no response was involved. */
  readonly status: number;
  /** The server's request id (for support and logs), when there was a response. */
  readonly requestId: string | null;
  /** The WeChat errcode behind the error, when there was one. */
  readonly wechatErrcode?: number;
  /** Seconds, from `Retry-After` (rate_limited, wechat_unavailable). */
  readonly retryAfter?: number;
  /** For `unauthenticated` after a failed refresh: 'refresh_token_invalid' or 'refresh_token_reused'. */
  readonly reason?: string;
  /** For `http_error`: the response body. */
  readonly data?: unknown;
}

export interface User {
  user_id: string;
  nickname: string | null;
  avatar_url: string | null;
  /** e.g. "+86 138****8000" */
  phone_masked: string;
  /** GET /v1/me only */
  created_at?: string;
  /** GET /v1/me only */
  identities?: Array<{ appid: string; has_unionid: boolean }>;
  [field: string]: unknown;
}

/** GET /v1/me/export: everything the server holds about the user. Times are RFC 3339. */
export interface AccountExport {
  user: {
    user_id: string;
    nickname: string | null;
    avatar_url: string | null;
    /** E.164, in full */
    phone_number: string;
    /** The operator's id for the user */
    external_id: string | null;
    created_at: string;
    last_login_at: string | null;
  };
  /** The WeChat identities, in full. */
  identities: Array<{ appid: string; openid: string; unionid: string | null; bound_at: string }>;
  /** Signed-in devices (refresh families). */
  refresh_families: Array<{ appid: string; created_at: string; expires_at: string }>;
  /** Open mini program sessions. */
  sessions: Array<{ appid: string; created_at: string; expires_at: string }>;
  /** The account's events, oldest first ("user.registered", ...). */
  events: Array<{ id: string; type: string; timestamp: string; appid: string | null }>;
  [field: string]: unknown;
}

export interface Phone {
  /** E.164, e.g. "+8613800138000" */
  phone_number: string;
  pure_phone_number: string;
  country_code: string;
}

/** Synchronous key-value storage. Values are plain objects; a string-only store may JSON-encode them. */
export interface WxLoginStorage {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  remove(key: string): void;
}

/**
 * The parts of the platform object the SDK uses: WeChat's `wx`, uni-app's `uni` or Taro's
 * `Taro`. Each asynchronous call gets the mini program API's parameters plus success/fail
 * callbacks, and may answer through the callbacks (wx, uni), return a promise (Taro; uni-app
 * without callbacks, whose Vue 2 promises resolve [err, res]), or both: the first answer counts.
 * The parameters are typed loosely on purpose, so that each framework's own typings fit.
 */
export interface PlatformLike {
  /** wx.login: success({code}). */
  login(options: any): unknown;
  /** wx.request: {url, method, data, header, timeout, dataType}; success({statusCode, data, header}). */
  request(options: any): unknown;
  /** wx.uploadFile: {url, filePath, name, header, formData, timeout}; success({statusCode, data}). uploadAvatar only. */
  uploadFile?(options: any): unknown;
  getStorageSync(key: string): any;
  setStorageSync(key: string, value: any): void;
  removeStorageSync(key: string): void;
  /** Read for the language (`language`, or uni-app's `appLanguage`); optional. */
  getAppBaseInfo?(): any;
  getSystemInfoSync?(): any;
}

/** @deprecated The former name of PlatformLike. */
export type WxLike = PlatformLike;

export interface WxLoginOptions {
  /** The wxlogin server, e.g. "https://auth.example.com" (a trailing slash is ignored). */
  baseUrl: string;
  /** Sent with POST /v1/login; needed when the server serves several mini programs. */
  appid?: string;
  /** Default: wx.getStorageSync / setStorageSync / removeStorageSync. */
  storage?: WxLoginStorage;
  /** Prefix of the storage keys; default "wxlogin:". Keys: session, tokens, user, ticket. */
  storagePrefix?: string;
  /** request / uploadFile timeout in ms; default the platform's (WeChat: 60 s, or app.json networkTimeout). */
  timeout?: number;
  /**
   * The platform object: `wx` (the default, the global one), uni-app's `uni` or Taro's `Taro`.
   * Its language (getAppBaseInfo / getSystemInfoSync) is sent as Accept-Language.
   */
  platform?: PlatformLike;
  /** @deprecated The former name of `platform`. */
  wx?: PlatformLike;
  /**
   * The language of messageFor() and of the SDK's own user-facing messages. Default: English on
   * a platform whose language is English, Chinese otherwise. When given, it is also sent as
   * Accept-Language ("zh-CN" / "en") instead of the platform's language.
   */
  locale?: 'zh' | 'en';
}

/** The getPhoneNumber button's event; only `detail` is read. */
export interface PhoneNumberEvent {
  detail: {
    /** "getPhoneNumber:ok", or e.g. "getPhoneNumber:fail user deny" */
    errMsg: string;
    /** base library >= 2.21.2 */
    code?: string;
    /** older base libraries */
    encryptedData?: string;
    iv?: string;
  };
}

export type LoginResult = { registered: true; user: User } | { registered: false };

export type PhoneLoginResult = { registered: true; user: User } | { registered: false; phone: Phone; ticket: string };

export interface PendingRegistration {
  phone: Phone;
  ticket: string;
  /** ms since the epoch */
  expiresAt: number;
}

export interface RegisterProfile {
  /** 1-64 characters; an empty string is left out. */
  nickname?: string;
  /** The URL uploadAvatar gave, or any https URL; an empty string is left out. */
  avatarUrl?: string;
  /** Default: the ticket kept by the last loginWithPhone. */
  ticket?: string;
}

export interface ProfileChanges {
  /** 1-64 characters, not blank; left alone when absent. It cannot be removed. */
  nickname?: string;
  /** An https URL or the one uploadAvatar gave; null removes the avatar; left alone when absent. */
  avatarUrl?: string | null;
}

export interface UploadAvatarOptions {
  /**
   * Upload with this registration ticket instead of a bearer token (the registration page).
   * Default: the bearer token when signed in, else the pending registration's ticket.
   */
  registrationTicket?: string;
}

export interface RequestOptions {
  /** A path under baseUrl ("/v1/me") or an absolute URL (the token is sent there too). */
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';
  data?: unknown;
  header?: Record<string, string>;
  timeout?: number;
}

/** wx.request's success result, with `data` parsed from JSON. */
export interface WxResponse<T = any> {
  statusCode: number;
  data: T;
  header: Record<string, string>;
  errMsg?: string;
}

export interface WxLogin {
  /**
   * wx.login → POST /v1/login; keeps the session. A WeChat user already bound to an account is
   * signed in silently ({registered: true, user}); otherwise {registered: false} and the phone
   * button is next. login_code_used / login_code_invalid get one fresh wx.login. Concurrent
   * calls share one wx.login.
   */
  login(): Promise<LoginResult>;

  /**
   * Takes the getPhoneNumber button's event. Rejects with `permission_denied` (and sends nothing)
   * unless e.detail.errMsg ends in ":ok". Sends e.detail.code, or encryptedData + iv on old base
   * libraries; logs in first when there is no session. On `session_key_stale` (old encryptedData)
   * it logs in again and rejects with `session_key_stale`, whose message asks the user to tap the
   * button again; if that login signs the user in, it resolves {registered: true, user} instead.
   */
  loginWithPhone(event: PhoneNumberEvent): Promise<PhoneLoginResult>;

  /**
   * POST /v1/register with the pending ticket, then signed in. `ticket_invalid`,
   * `already_registered` and `registration_closed` drop the ticket (go back to the phone button).
   */
  register(profile?: RegisterProfile): Promise<{ user: User }>;

  /**
   * The platform's request with `Authorization: Bearer <access token>` (and Accept-Language). A 401 refreshes the tokens once (one
   * refresh for any number of concurrent 401s) and repeats the request once. Resolves with the
   * response of a 2xx; rejects with a WxLoginError otherwise. `unauthenticated` when not signed
   * in, or when the refresh token was refused (the tokens are then cleared).
   */
  request<T = any>(options: RequestOptions): Promise<WxResponse<T>>;

  /**
   * POST /v1/logout (all devices with {allDevices: true}), then clears everything stored.
   * `revoked` says whether the server confirmed; the local sign-out happens either way.
   */
  logout(options?: { allDevices?: boolean }): Promise<{ revoked: boolean }>;

  /** Whether tokens are stored (the refresh token not yet expired by the local clock). */
  isLoggedIn(): boolean;

  /** The user of the last sign-in, or null. GET /v1/me has the current profile. */
  getUser(): User | null;

  /** The ticket and phone of the last loginWithPhone that found no account, or null once spent or expired. */
  getPendingRegistration(): PendingRegistration | null;

  /**
   * PATCH /v1/me: changes what is given, leaves the rest. Resolves the user as GET /v1/me shows
   * it, which getUser() then returns. `invalid_request` for a nickname or URL out of bounds.
   */
  updateProfile(changes: ProfileChanges): Promise<{ user: User }>;

  /**
   * POST /v1/avatar through uploadFile (multipart, field `file`): the temporary file of
   * <button open-type="chooseAvatar"> (e.detail.avatarUrl), JPEG, PNG or WebP of at most 1 MiB.
   * With the bearer token when signed in (a 401 refreshes once), else with the registration
   * ticket. Resolves the URL to pass to register() or updateProfile(); the profile is not
   * changed by the upload. `image_invalid` (422), `payload_too_large` (413), `ticket_invalid`,
   * `unauthenticated` (neither signed in nor a registration pending: nothing is sent).
   */
  uploadAvatar(tempFilePath: string, options?: UploadAvatarOptions): Promise<{ avatarUrl: string }>;

  /**
   * Takes the getPhoneNumber button's event, like loginWithPhone; logs in silently for a
   * session of this WeChat account, then POST /v1/me/phone. Resolves the user with the new
   * `phone_masked`. `phone_taken` (409): another account holds the number; `permission_denied`:
   * refused, nothing sent; `session_key_stale`: old encryptedData, its message asks for another
   * tap; `unauthenticated`: not signed in, or this WeChat account has no account any more.
   */
  changePhone(event: PhoneNumberEvent): Promise<{ user: User }>;

  /**
   * DELETE /v1/me, the account deletion (注销): every sign-in ends on the server, the identities,
   * phone and profile are erased. Then everything stored locally is cleared. On a rejection
   * nothing local changes.
   */
  deleteAccount(): Promise<void>;

  /** GET /v1/me/export: everything the server holds about the user (PIPL access and portability). */
  exportAccount(): Promise<AccountExport>;

  /**
   * A text for the user about an error (or an error code), in the SDK's locale: Chinese by
   * default, English with `locale: 'en'`. A code the SDK does not know gets a generic text.
   */
  messageFor(error: WxLoginError | { code?: string } | string): string;
}

export function createWxLogin(options: WxLoginOptions): WxLogin;

/** The texts of messageFor(), by locale and error code (read only). */
export const messages: {
  readonly zh: Readonly<Record<string, string>>;
  readonly en: Readonly<Record<string, string>>;
};
