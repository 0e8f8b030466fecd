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

/** The parts of the mini program `wx` object the SDK uses. */
export interface WxLike {
  login(options: { success(res: { code: string; errMsg: string }): void; fail(res: { errMsg: string }): void }): void;
  request(options: {
    url: string;
    method?: string;
    data?: unknown;
    header?: Record<string, string>;
    timeout?: number;
    dataType?: string;
    success(res: WxResponse): void;
    fail(res: { errMsg: string }): void;
  }): unknown;
  getStorageSync(key: string): unknown;
  setStorageSync(key: string, value: unknown): void;
  removeStorageSync(key: string): void;
}

export interface WxLoginOptions {
  /** The wxlogin server, e.g. "https://auth.example.com" (a trailing slash is ignored). */
  baseUrl: string;
  /** Sent with POST /v1/login; needed when the server serves several mini programs. */
  appid?: string;
  /** Default: wx.getStorageSync / setStorageSync / removeStorageSync. */
  storage?: WxLoginStorage;
  /** Prefix of the storage keys; default "wxlogin:". Keys: session, tokens, user, ticket. */
  storagePrefix?: string;
  /** wx.request timeout in ms; default WeChat's (60 s, or app.json networkTimeout). */
  timeout?: number;
  /** The `wx` object; default the global `wx`. For tests and other runtimes. */
  wx?: WxLike;
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
  /** An https URL (upload the chooseAvatar file to your storage first); an empty string is left out. */
  avatarUrl?: string;
  /** Default: the ticket kept by the last loginWithPhone. */
  ticket?: string;
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
   * wx.request with `Authorization: Bearer <access token>`. A 401 refreshes the tokens once (one
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
}

export function createWxLogin(options: WxLoginOptions): WxLogin;
