//! The delivery endpoints end to end: log, detail, manual retry, recover through the deliveries
//! queue (moto's SQS) back into the delivery function, outbound test events, isolation.

use std::sync::Arc;

use hookline::clock::SystemClock;
use hookline::events::Event;
use hookline::http::ReqwestClient;
use hookline::notify::RecordingMailer;
use hookline::outbound::DeliverySettings;
use hookline::outbound::{Deliverer, Receive};
use hookline::queue::{EventMessage, SqsDeliveryQueue};
use hookline::store::dynamo::DynamoStore;
use hookline_tests::upstream::{Reply, Upstream};
use hookline_tests::{outbound_body, TestApi};
use serde_json::{json, Value};

const BASE: &str = "/api/v1/webhook";

type Function = Deliverer<DynamoStore, ReqwestClient, RecordingMailer, SqsDeliveryQueue>;

/// The delivery function over the API's table and deliveries queue.
async fn delivery_function(api: &TestApi) -> Function {
    let sqs = aws_sdk_sqs::Client::new(&hookline_tests::sdk_config().await);
    Deliverer::new(
        api.app.store.clone(),
        ReqwestClient::new(hookline_tests::local_egress()),
        RecordingMailer::default(),
        SqsDeliveryQueue::new(sqs, api.deliveries_queue_url.clone().unwrap())
            .with_slow_lane(api.slow_deliveries_queue_url.clone().unwrap()),
        Arc::new(SystemClock),
        hookline::random::os(),
        DeliverySettings {
            schedule: vec![],
            ..DeliverySettings::default()
        },
    )
}

/// Lambda's event source mapping, once: the function handles one batch from the queue.
async fn pump(queue_url: &str, d: &Function) -> usize {
    let sqs = aws_sdk_sqs::Client::new(&hookline_tests::sdk_config().await);
    let arn = hookline::local::queue_arn(&sqs, queue_url).await.unwrap();
    let (handed, _) = hookline::local::pump_once(&sqs, queue_url, &arn, 0, None, |batch| async {
        Ok(hookline_tests::invoke(d, batch).await)
    })
    .await
    .unwrap();
    handed
}

/// The event fans out (as the events queue's handler), and the deliveries queue hands its
/// first tries to the function.
async fn deliver(api: &TestApi, d: &Function, event: &Event) {
    let message = EventMessage {
        event: event.clone(),
        republished: false,
    };
    let receive = Receive {
        count: 1,
        sent_at: time::OffsetDateTime::now_utc(),
    };
    let deadline = time::OffsetDateTime::now_utc() + time::Duration::minutes(2);
    let n = d.fan_out(&message, &receive, deadline).await.unwrap();
    // Both lanes: a first try to a webhook already failing goes to the slow lane's queue.
    let mut handed = 0;
    while handed < n {
        handed += pump(api.deliveries_queue_url.as_deref().unwrap(), d).await;
        handed += pump(api.slow_deliveries_queue_url.as_deref().unwrap(), d).await;
    }
}

fn event(account: &str, id: &str) -> Event {
    hookline_tests::case_new(account, id)
}

#[tokio::test]
async fn the_log_shows_every_attempt_and_failed_deliveries_can_be_resent_and_recovered() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let k = Some(key.as_str());
    let receiver = Upstream::start(vec![
        Reply::status(500, "broken"),
        Reply::status(500, "broken"),
        Reply::status(200, "ok"),
    ])
    .await;
    let created = api
        .call("POST", BASE, k, Some(outbound_body(&receiver.url)))
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let d = delivery_function(&api).await;
    // With no retries configured, both deliveries fail for good at once.
    deliver(&api, &d, &event("acme", "evt_a")).await;
    deliver(&api, &d, &event("acme", "evt_b")).await;

    let list = api
        .call(
            "GET",
            &format!("{BASE}/{id}/deliveries?status=failed"),
            k,
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    let data = list.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["event"]["id"], "evt_b", "newest first");
    assert_eq!(data[0]["attempts"][0]["status"], 500);
    assert!(
        data[0]["attempts"][0].get("responseBody").is_none(),
        "lists leave response bodies out"
    );
    let first = data[1]["id"].as_str().unwrap().to_string();

    let detail = api
        .call("GET", &format!("{BASE}/{id}/deliveries/{first}"), k, None)
        .await;
    assert_eq!(detail.body["attempts"][0]["responseBody"], "broken");
    assert_eq!(detail.body["event"]["data"], json!({"caseId": "evt_a"}));

    // A manual resend: a new attempt now, the same webhook-id.
    let retried = api
        .call(
            "POST",
            &format!("{BASE}/{id}/deliveries/{first}/retry"),
            k,
            None,
        )
        .await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(
        (
            retried.body["attempt"]["status"].as_u64(),
            retried.body["attempt"]["manual"].as_bool()
        ),
        (Some(200), Some(true))
    );
    assert_eq!(retried.body["delivery"]["status"], "succeeded");
    let got = receiver.received();
    assert_eq!(got[2].header("webhook-id"), Some(first.as_str()));

    // The exhaustion e-mails the failures queued on the deliveries queue go out first.
    while pump(api.deliveries_queue_url.as_deref().unwrap(), &d).await > 0 {}

    // Recover: the remaining failed delivery goes through the slow lane's queue (bulk work to a
    // receiver that may still fail) to the function.
    let since = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let recovered = api
        .call(
            "POST",
            &format!("{BASE}/{id}/recover"),
            k,
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(
        (recovered.status, recovered.body["queued"].as_u64()),
        (202, Some(1))
    );
    assert_eq!(
        pump(api.deliveries_queue_url.as_deref().unwrap(), &d).await,
        0
    );
    assert_eq!(
        pump(api.slow_deliveries_queue_url.as_deref().unwrap(), &d).await,
        1
    );
    assert_eq!(receiver.calls(), 4);
    assert_eq!(
        receiver.received()[3].header("webhook-id"),
        data[0]["id"].as_str()
    );
    let after = api
        .call(
            "GET",
            &format!("{BASE}/{id}/deliveries?status=succeeded"),
            k,
            None,
        )
        .await;
    assert_eq!(after.body["data"].as_array().unwrap().len(), 2);
    assert!(
        d.mailer()
            .sent()
            .iter()
            .all(|m| !m.subject.contains("is failing")),
        "resends send no failure e-mail"
    );

    for (q, field) in [
        ("status=lost", "status"),
        ("cursor=x", "cursor"),
        ("limit=0", "limit"),
    ] {
        let r = api
            .call("GET", &format!("{BASE}/{id}/deliveries?{q}"), k, None)
            .await;
        assert_eq!((r.status, r.error_field()), (400, Some(field)));
    }
    for body in [
        json!({}),
        json!({"since": "yesterday"}),
        json!({"since": since, "x": 1}),
    ] {
        let r = api
            .call(
                "POST",
                &format!("{BASE}/{id}/recover"),
                k,
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status, 400, "{body}");
    }
    // Deliveries are recovered 14 days back: an earlier time means all of them.
    let r = api
        .call(
            "POST",
            &format!("{BASE}/{id}/recover"),
            k,
            Some(json!({"since": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(
        api.call(
            "GET",
            &format!("{BASE}/{id}/deliveries/dlv_01ABCDEFGHJKMNPQRSTVWXYZ01"),
            k,
            None
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn an_outbound_test_sends_one_signed_sample_event() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let receiver = Upstream::start(vec![Reply::status(200, "ok")]).await;
    let mut body = outbound_body(&receiver.url);
    body["events"] = json!(["case:status:closed"]);
    let created = api.call("POST", BASE, Some(&key), Some(body)).await;
    let id = created.body["id"].as_str().unwrap();
    let r = api
        .call("POST", &format!("{BASE}/{id}/test"), Some(&key), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (r.body["ok"].as_bool(), r.body["attempt"]["status"].as_u64()),
        (Some(true), Some(200))
    );
    let got = &receiver.received()[0];
    let sent: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(sent["event"], "case:status:closed");
    assert_eq!(sent["data"]["status"], "closed");
    assert!(got.header("webhook-signature").unwrap().starts_with("v1,"));
    let list = api
        .call("GET", &format!("{BASE}/{id}/deliveries"), Some(&key), None)
        .await;
    assert_eq!(
        list.body["data"],
        json!([]),
        "test events are recorded nowhere"
    );
}

#[tokio::test]
async fn an_outbound_test_of_unsaved_edits_goes_where_the_form_says_signed_as_stored() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let receiver = Upstream::start(vec![Reply::status(200, "edited")]).await;
    let created = api
        .call("POST", BASE, Some(&key), Some(outbound_body(&receiver.url)))
        .await;
    let id = created.body["id"].as_str().unwrap();
    let secret = created.body["security"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let saved = api
        .call("GET", &format!("{BASE}/{id}"), Some(&key), None)
        .await;

    // The form as read (masked secret = keep), with the URL's path edited but not saved.
    let mut edits = saved.body.clone();
    edits["url"] = json!(format!("{}/edited", receiver.url));
    let r = api
        .call(
            "POST",
            &format!("{BASE}/{id}/test"),
            Some(&key),
            Some(json!({"webhook": edits})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["attempt"]["responseBody"], "edited");
    let got = &receiver.received()[0];
    assert_eq!(got.target, "/edited");
    hookline_tests::upstream::verify_signatures(got, &secret);
    let again = api
        .call("GET", &format!("{BASE}/{id}"), Some(&key), None)
        .await;
    assert_eq!(again.body, saved.body, "testing edits saves nothing");

    let r = api
        .call(
            "POST",
            &format!("{BASE}/{id}/test"),
            Some(&key),
            Some(json!({"variables": {"a": "b"}})),
        )
        .await;
    // Well formed, and not for an outbound webhook: a conflict with what it is.
    assert_eq!((r.status, r.error_field()), (409, Some("variables")));
}

/// The attack: a key holder tests (or saves) the webhook with its URL pointed at a server of
/// theirs, hoping the stored credentials go along. Another origin needs them sent again.
#[tokio::test]
async fn stored_credentials_never_follow_the_url_to_another_origin() {
    let api = TestApi::new().await;
    let key = api.key("acme").await;
    let owner = Upstream::start(vec![Reply::status(200, "owner")]).await;
    let thief = Upstream::start(vec![Reply::status(200, "thief")]).await;
    let with_password = |url: &str| {
        let mut body = outbound_body(url);
        body["security"] =
            json!({"type": "basic", "username": "bot", "password": "correct horse battery"});
        body
    };
    let mut inbound_with_header = hookline_tests::inbound_body(&owner.url);
    inbound_with_header["security"] =
        json!({"type": "header", "name": "X-Api-Key", "value": "k-0123456789"});
    for (body, field) in [
        (outbound_body(&owner.url), "security.secret"),
        (with_password(&owner.url), "security.password"),
        (inbound_with_header, "security.value"),
    ] {
        let created = api.call("POST", BASE, Some(&key), Some(body.clone())).await;
        let id = created.body["id"].as_str().unwrap();
        let saved = api
            .call("GET", &format!("{BASE}/{id}"), Some(&key), None)
            .await;
        let mut form = saved.body.clone();
        form["url"] = json!(format!("{}/collect", thief.url));
        for edits in [json!({"url": form["url"]}), form.clone()] {
            let tested = api
                .call(
                    "POST",
                    &format!("{BASE}/{id}/test"),
                    Some(&key),
                    Some(json!({"webhook": edits})),
                )
                .await;
            // A conflict with the stored credentials' origin, naming what to send again.
            assert_eq!(
                (tested.status, tested.error_field()),
                (409, Some(format!("webhook.{field}").as_str())),
                "{:?}",
                tested.body
            );
            let put = api
                .call("PUT", &format!("{BASE}/{id}"), Some(&key), Some(edits))
                .await;
            assert_eq!((put.status, put.error_field()), (409, Some(field)));
        }
        assert_eq!(thief.calls(), 0, "nothing was sent to the other origin");
        let again = api
            .call("GET", &format!("{BASE}/{id}"), Some(&key), None)
            .await;
        assert_eq!(again.body, saved.body, "nothing was saved");

        // The owner moving the webhook gives the credential again, and it goes.
        let mut moved = body.clone();
        moved["url"] = form["url"].clone();
        if field == "security.secret" {
            moved["security"] =
                json!({"type": "hmac", "secret": created.body["security"]["secret"]});
        }
        let put = api
            .call("PUT", &format!("{BASE}/{id}"), Some(&key), Some(moved))
            .await;
        assert_eq!(put.status, 200, "{:?}", put.body);
    }
    assert_eq!(owner.calls(), 0);
}

#[tokio::test]
async fn another_accounts_deliveries_are_404() {
    let api = TestApi::new().await;
    let alice = api.key("alice").await;
    let bob = api.key("bob").await;
    let receiver = Upstream::start(vec![Reply::status(500, "")]).await;
    let created = api
        .call(
            "POST",
            BASE,
            Some(&alice),
            Some(outbound_body(&receiver.url)),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let d = delivery_function(&api).await;
    deliver(&api, &d, &event("alice", "evt_x")).await;
    let delivery = receiver.received()[0]
        .header("webhook-id")
        .unwrap()
        .to_string();
    let since = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for (method, path, body) in [
        ("GET", format!("{BASE}/{id}/deliveries"), None),
        ("GET", format!("{BASE}/{id}/deliveries/{delivery}"), None),
        (
            "POST",
            format!("{BASE}/{id}/deliveries/{delivery}/retry"),
            None,
        ),
        (
            "POST",
            format!("{BASE}/{id}/recover"),
            Some(json!({"since": since})),
        ),
        ("POST", format!("{BASE}/{id}/test"), None),
    ] {
        let r = api.call(method, &path, Some(&bob), body).await;
        assert_eq!(
            r.status, 404,
            "{method} {path} as another account: {:?}",
            r.body
        );
    }
    assert_eq!(
        receiver.calls(),
        1,
        "nothing was sent for the other account"
    );
}
