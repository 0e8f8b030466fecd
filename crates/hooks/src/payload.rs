//! The JSON bodies hooks send.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use wxlogin_core::events::EventRecord;
use wxlogin_core::ports::LookupRequest;

/// A webhook body:
///
/// ```json
/// {"id": "evt_…", "type": "user.registered", "timestamp": "2026-01-01T00:00:00Z",
///  "data": {"user_id": "…", "external_id": null, "appid": "wx…", "openid": "…",
///           "phone": "+8613800138000", "source": "lookup"}}
/// ```
///
/// `external_id` is always present (null when the user had none); `appid` and `openid` only
/// where the event stores them (identity events, `user.registered`, `user.signed_in`);
/// `phone` only for an endpoint with `include_phone` while the user exists; `source` only
/// for users that came from the lookup hook or an import.
#[derive(Serialize)]
struct EventBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: String,
    data: EventData<'a>,
}

#[derive(Serialize)]
struct EventData<'a> {
    user_id: &'a str,
    external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    appid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    openid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
}

/// The body of one event; `phone` is the user's current E.164 number, for endpoints that
/// asked for it. `None` only if the event's time cannot be written as RFC 3339 (a year
/// outside 0-9999, which no clock produces).
pub(crate) fn event_body(event: &EventRecord, phone: Option<&str>) -> Option<Vec<u8>> {
    let body = EventBody {
        id: event.id.as_str(),
        kind: event.kind.as_str(),
        timestamp: event.at.format(&Rfc3339).ok()?,
        data: EventData {
            user_id: event.user_id.as_str(),
            external_id: event.external_id.as_ref().map(|id| id.as_str()),
            appid: event.appid.as_ref().map(|id| id.as_str()),
            openid: event.openid.as_ref().map(|id| id.as_str()),
            phone,
            source: event.source.map(|s| s.as_str()),
        },
    };
    serde_json::to_vec(&body).ok()
}

/// The lookup hook's request body:
/// `{"type": "user.lookup", "data": {"phone", "appid", "openid", "unionid"?}}`.
#[derive(Serialize)]
struct LookupBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    data: LookupData<'a>,
}

#[derive(Serialize)]
struct LookupData<'a> {
    phone: &'a str,
    appid: &'a str,
    openid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<&'a str>,
}

/// The `type` of a lookup request.
pub(crate) const LOOKUP_TYPE: &str = "user.lookup";

pub(crate) fn lookup_body(request: &LookupRequest) -> Vec<u8> {
    let body = LookupBody {
        kind: LOOKUP_TYPE,
        data: LookupData {
            phone: &request.phone,
            appid: request.appid.as_str(),
            openid: request.openid.as_str(),
            unionid: request.unionid.as_ref().map(|id| id.as_str()),
        },
    };
    // Only strings: serialising cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use time::macros::datetime;
    use wxlogin_core::events::{EventType, UserSource};
    use wxlogin_core::ids::{AppId, EventId, ExternalId, OpenId, UnionId, UserId};

    fn event(kind: EventType) -> EventRecord {
        EventRecord {
            seq: 1,
            id: EventId::parse("evt_0123456789abcdef0123456789abcdef").unwrap(),
            kind,
            user_id: UserId::parse("0190f5a8-0000-7000-8000-000000000001").unwrap(),
            external_id: None,
            appid: None,
            openid: None,
            unionid: None,
            source: None,
            at: datetime!(2026-01-01 08:30:00.25 UTC),
            deliveries: Vec::new(),
        }
    }

    fn parse(body: Option<Vec<u8>>) -> Value {
        serde_json::from_slice(&body.unwrap()).unwrap()
    }

    #[test]
    fn a_plain_event_has_a_null_external_id_and_nothing_optional() {
        let body = parse(event_body(&event(EventType::UserDisabled), None));
        assert_eq!(
            body,
            json!({
                "id": "evt_0123456789abcdef0123456789abcdef",
                "type": "user.disabled",
                "timestamp": "2026-01-01T08:30:00.25Z",
                "data": {"user_id": "0190f5a8-0000-7000-8000-000000000001", "external_id": null}
            })
        );
    }

    #[test]
    fn a_registration_carries_what_the_event_stores_and_the_phone_when_given() {
        let mut registered = event(EventType::UserRegistered);
        registered.external_id = Some(ExternalId::parse("crm-42").unwrap());
        registered.appid = Some(AppId::parse("wx4f4bc4dec97d474b").unwrap());
        registered.openid = Some(OpenId::parse("o6_bmjrPTlm6_2sgVt7hMZOPfL2M").unwrap());
        registered.unionid = Some(UnionId::parse("oUnion").unwrap());
        registered.source = Some(UserSource::Lookup);
        let body = parse(event_body(&registered, Some("+8613800138000")));
        assert_eq!(
            body["data"],
            json!({
                "user_id": "0190f5a8-0000-7000-8000-000000000001",
                "external_id": "crm-42",
                "appid": "wx4f4bc4dec97d474b",
                "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
                "phone": "+8613800138000",
                "source": "lookup"
            })
        );
    }

    #[test]
    fn a_lookup_body_names_its_type_and_omits_a_missing_unionid() {
        let request = LookupRequest {
            phone: "+8613800138000".into(),
            appid: AppId::parse("wx1").unwrap(),
            openid: OpenId::parse("o1").unwrap(),
            unionid: None,
        };
        let body: Value = serde_json::from_slice(&lookup_body(&request)).unwrap();
        assert_eq!(
            body,
            json!({"type": "user.lookup",
                   "data": {"phone": "+8613800138000", "appid": "wx1", "openid": "o1"}})
        );
    }
}
