//! Avatar uploads with real image files, hostile ones included; local storage here, and an
//! S3-compatible bucket (the `moto` emulator) when it is installed.

use std::io::Cursor;
use std::sync::Arc;

use image::{DynamicImage, ImageFormat};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;

use crate::helpers::{Options, PHONE, Res, TestApp};

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    }))
    .write_to(&mut out, ImageFormat::Png)
    .unwrap();
    out.into_inner()
}

/// A PNG with a text chunk after the header: metadata a re-encode must drop.
fn png_with_metadata(marker: &str) -> Vec<u8> {
    let plain = png(8, 8);
    let data = format!("Comment\0{marker}");
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = b"tEXt".to_vec();
    body.extend_from_slice(data.as_bytes());
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc32(&body).to_be_bytes());
    // After the 8-byte signature and the 25-byte IHDR chunk.
    let mut out = plain[..33].to_vec();
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&plain[33..]);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image::RgbImage::from_pixel(w, h, image::Rgb([200, 10, 10])))
        .write_to(&mut out, ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

async fn upload(
    app: &TestApp,
    file: Option<Vec<u8>>,
    bearer: Option<&str>,
    ticket: Option<&str>,
) -> Res {
    let mut form = Form::new();
    if let Some(file) = file {
        form = form.part("file", Part::bytes(file).file_name("avatar.png"));
    }
    if let Some(ticket) = ticket {
        form = form.text("registration_ticket", ticket.to_owned());
    }
    let mut req = app
        .http
        .post(format!("{}/v1/avatar", app.addr))
        .multipart(form);
    if let Some(bearer) = bearer {
        req = req.bearer_auth(bearer);
    }
    app.send(req).await
}

#[tokio::test]
async fn an_uploaded_avatar_is_reencoded_served_and_used_in_the_profile() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let res = upload(
        &app,
        Some(png_with_metadata("GPS-51.5N")),
        Some(&alice.access_token),
        None,
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.body);
    let url = res.body["avatar_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:9012/avatars/"), "{url}");
    let path = url.trim_start_matches("http://127.0.0.1:9012");
    let served = app
        .http
        .get(format!("{}{path}", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    let bytes = served.bytes().await.unwrap();
    assert!(
        !bytes.windows(9).any(|w| w == b"GPS-51.5N"),
        "metadata kept"
    );
    let image = image::load_from_memory(&bytes).unwrap();
    assert_eq!((image.width(), image.height()), (8, 8));

    // A large one is scaled to fit 1024 × 1024.
    let res = upload(
        &app,
        Some(jpeg(2000, 1000)),
        Some(&alice.access_token),
        None,
    )
    .await;
    let big = res.ok()["avatar_url"].as_str().unwrap().to_owned();
    let bytes = app
        .http
        .get(format!(
            "{}{}",
            app.addr,
            big.trim_start_matches("http://127.0.0.1:9012")
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let image = image::load_from_memory(&bytes).unwrap();
    assert_eq!((image.width(), image.height()), (1024, 512));

    // The server's own URL is accepted as the avatar (plain http in dev).
    let res = app
        .request(
            Method::PATCH,
            "/v1/me",
            Some(&json!({ "avatar_url": url })),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(res.ok()["user"]["avatar_url"], url.as_str());
    // Another http URL is not.
    app.request(
        Method::PATCH,
        "/v1/me",
        Some(&json!({"avatar_url": "http://evil.example/a.png"})),
        Some(&alice.access_token),
    )
    .await
    .assert_error(400, "invalid_request");

    // Deleting the account deletes the file.
    let res = app
        .request(Method::DELETE, "/v1/me", None, Some(&alice.access_token))
        .await;
    assert_eq!(res.status, 204);
    let gone = app.get(path, None).await;
    gone.assert_error(404, "not_found");
}

#[tokio::test]
async fn the_registration_page_uploads_with_its_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket_for("alice", PHONE).await;
    let res = upload(&app, Some(png(64, 64)), None, Some(&ticket)).await;
    assert_eq!(res.status, 201, "{}", res.body);
    let url = res.body["avatar_url"].as_str().unwrap().to_owned();
    // The upload did not use the ticket up.
    let res = app
        .post(
            "/v1/register",
            json!({"registration_ticket": ticket, "nickname": "Alice", "avatar_url": url}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.body);
    assert_eq!(res.body["user"]["avatar_url"], url.as_str());
    upload(&app, Some(png(4, 4)), None, Some("wxt_forged"))
        .await
        .assert_error(401, "ticket_invalid");
    upload(&app, Some(png(4, 4)), None, None)
        .await
        .assert_error(401, "unauthenticated");
    upload(&app, Some(png(4, 4)), Some("not-a-token"), None)
        .await
        .assert_error(401, "unauthenticated");
}

#[tokio::test]
async fn hostile_uploads_get_a_clear_4xx_and_nothing_stored() {
    let app = TestApp::spawn().await;
    let alice = app.register_user("alice", PHONE).await;
    let token = Some(alice.access_token.as_str());
    let mut bomb = png(1, 1);
    bomb[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let mut truncated = jpeg(300, 300);
    truncated.truncate(200);
    for (what, file) in [
        ("text", b"hello, not an image".to_vec()),
        ("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec()),
        (
            "svg",
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec(),
        ),
        ("bomb", bomb),
        ("truncated", truncated),
        ("empty", Vec::new()),
    ] {
        let res = upload(&app, Some(file), token, None).await;
        assert_eq!(
            (res.status, res.code()),
            (422, "image_invalid"),
            "{what}: {}",
            res.body
        );
    }
    let res = upload(&app, Some(vec![0u8; (1 << 20) + 1]), token, None).await;
    res.assert_error(413, "payload_too_large");
    let res = upload(&app, Some(vec![0u8; 3 << 20]), token, None).await;
    res.assert_error(413, "payload_too_large");
    upload(&app, None, token, None)
        .await
        .assert_error(400, "invalid_request");
    let res = app
        .send(
            app.http
                .post(format!("{}/v1/avatar", app.addr))
                .bearer_auth(&alice.access_token)
                .json(&json!({"file": "x"})),
        )
        .await;
    res.assert_error(400, "invalid_request");
    let stored = std::fs::read_dir(app.data_dir.path().join("avatars"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(stored, 0, "nothing stored");
    for bad in [
        "/avatars/..%2F..%2Fwxlogin.db",
        "/avatars/nope.jpg",
        "/avatars/x",
    ] {
        app.get(bad, None).await.assert_error(404, "not_found");
    }
}

#[tokio::test]
async fn avatars_go_to_an_s3_compatible_bucket() {
    let Some((mut moto, endpoint)) = moto_server().await else {
        return;
    };
    let http = reqwest::Client::new();
    let created = http
        .put(format!("{endpoint}/avatars-bucket"))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let e = endpoint.clone();
    let app = TestApp::spawn_with(Options {
        tweak: Some(Arc::new(move |raw| {
            raw.avatars.storage = "s3".into();
            raw.avatars.s3_bucket = Some("avatars-bucket".into());
            raw.avatars.s3_endpoint = Some(e.clone());
            raw.avatars.s3_access_key_id = Some("testing".into());
            raw.avatars.s3_secret_access_key = Some("testing".into());
        })),
        ..Options::default()
    })
    .await;
    let alice = app.register_user("alice", PHONE).await;
    let res = upload(&app, Some(png(32, 32)), Some(&alice.access_token), None).await;
    assert_eq!(res.status, 201, "{}", res.body);
    let url = res.body["avatar_url"].as_str().unwrap().to_owned();
    let id = url.rsplit('/').next().unwrap().to_owned();
    // In the bucket, under avatars/.
    let listed = http
        .get(format!("{endpoint}/avatars-bucket?list-type=2"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains(&format!("avatars/{id}")), "{listed}");
    let served = app
        .http
        .get(format!("{}/avatars/{id}", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert!(image::load_from_memory(&served.bytes().await.unwrap()).is_ok());
    let _ = moto.kill().await;
}

/// `moto_server` (PyPI `moto[server]`) on a free loopback port; `None` with a NOTICE when it
/// is not installed (CI installs it).
async fn moto_server() -> Option<(tokio::process::Child, String)> {
    let installed = std::process::Command::new("python3")
        .args(["-c", "import moto.server"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!(
            "NOTICE: python3 package moto[server] missing: avatars on S3 NOT tested \
             (pip install 'moto[server]'; .ci/run installs it)"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if http
            .get(format!("{endpoint}/moto-api/"))
            .send()
            .await
            .is_ok()
        {
            return Some((child, endpoint));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("moto_server did not answer within 15 s");
}
