//! An outbound webhook's delivery log, manual resends, bulk recovery and test events.

use hookline::api::request::{decode_cursor, encode_cursor, json, json_body, page_limit, query};
use hookline::api::types::{
    AttemptOut, DeliveryOut, DeliveryPage, OutboundTestOut, RecoverOut, RetryOut,
};
use hookline::api::{load_webhook, ApiError, Caller};
use hookline::model::{is_delivery_id, Delivery, DeliveryStatus, Flow, Webhook};
use hookline::outbound::DeliveryError;
use hookline::outbound::RECOVER_WINDOW;
use hookline::store::DeliveryStore;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::{App, Platform};

async fn load_outbound<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
) -> Result<Webhook, ApiError> {
    let webhook = load_webhook(&app.store, caller, id).await?;
    if webhook.flow() != Flow::Outbound {
        // An inbound webhook has no deliveries to list, read, resend or recover.
        return Err(ApiError::NotFound(
            "this webhook is inbound: only outbound webhooks have deliveries".into(),
        ));
    }
    Ok(webhook)
}

fn not_found() -> ApiError {
    ApiError::NotFound("no delivery with this id".into())
}

/// The caller's outbound webhook and one of its deliveries, or 404.
async fn load_delivery<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    delivery_id: &str,
) -> Result<(Webhook, Delivery), ApiError> {
    let webhook = load_outbound(app, caller, id).await?;
    if !is_delivery_id(delivery_id) {
        return Err(not_found());
    }
    let delivery = app
        .store
        .get_delivery(&caller.account_id, &webhook.id, delivery_id)
        .await?
        .ok_or_else(not_found)?;
    Ok((webhook, delivery))
}

/// `GET /webhook/{id}/deliveries?status=&limit=&cursor=`: newest event first.
pub async fn list<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let webhook = load_outbound(app, caller, id).await?;
    let (mut status, mut limit, mut before) = (None, 20, None);
    for (key, value) in query(req, &["status", "limit", "cursor"])? {
        match key.as_str() {
            "status" => {
                status = Some(DeliveryStatus::parse(&value).ok_or_else(|| {
                    ApiError::invalid("status", "must be pending, succeeded or failed")
                })?)
            }
            "limit" => limit = page_limit(Some(&value), 20, 100)?,
            _ => before = Some(decode_cursor(&value, is_delivery_id)?),
        }
    }
    let page = app
        .store
        .list_deliveries(
            &caller.account_id,
            &webhook.id,
            status,
            limit,
            before.as_deref(),
        )
        .await?;
    let page = DeliveryPage {
        data: page.items.iter().map(DeliveryOut::summary).collect(),
        next_cursor: page.next_after.as_deref().map(encode_cursor),
    };
    Ok(json(200, &page).build())
}

/// `GET /webhook/{id}/deliveries/{deliveryId}`: the event with its data (where it is kept: a
/// delivery that succeeded at its first try keeps none) and every attempt.
pub async fn get<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    delivery_id: &str,
) -> Result<Response<Body>, ApiError> {
    let (_, delivery) = load_delivery(app, caller, id, delivery_id).await?;
    let mut body = DeliveryOut::detail(&delivery);
    if body.event.data.is_none() {
        let event = app
            .outbound
            .delivery_event(&delivery)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Some(event) = event {
            body.event.data = Some(event.data.to_value());
        }
    }
    Ok(json(200, &body).build())
}

/// `POST /webhook/{id}/deliveries/{deliveryId}/retry`: one new attempt now, same `webhook-id`.
pub async fn retry<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    delivery_id: &str,
) -> Result<Response<Body>, ApiError> {
    let (webhook, _) = load_delivery(app, caller, id, delivery_id).await?;
    let attempt = app
        .outbound
        .resend(&webhook, delivery_id)
        .await
        .map_err(|e| match e {
            DeliveryError::AttemptsExhausted(_) | DeliveryError::PayloadNotKept(_) => {
                ApiError::Conflict(e.to_string())
            }
            e => ApiError::Internal(e.to_string()),
        })?
        .ok_or_else(|| {
            ApiError::Conflict(
                "an attempt of this delivery is under way; try again in a minute".into(),
            )
        })?;
    let delivery = app
        .store
        .get_delivery(&caller.account_id, &webhook.id, delivery_id)
        .await?
        .ok_or_else(not_found)?;
    let answer = RetryOut {
        attempt: AttemptOut::new(&attempt),
        delivery: DeliveryOut::detail(&delivery),
    };
    Ok(json(200, &answer).build())
}

/// `POST /webhook/{id}/recover {"since": RFC 3339}`: every failed delivery of events since then
/// (at most 14 days back) is queued for one more attempt. 202 with how many.
pub async fn recover<P: Platform>(
    app: &App<P>,
    caller: &Caller,
    id: &str,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let webhook = load_outbound(app, caller, id).await?;
    let body = json_body(req)?.ok_or_else(|| ApiError::invalid("since", "is required"))?;
    let map = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("body", "must be a JSON object"))?;
    hookline::model::reject_unknown(map, &["since"])?;
    let since = map
        .get("since")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("since", "is required, an RFC 3339 time"))?;
    let since = OffsetDateTime::parse(since, &Rfc3339)
        .map_err(|_| ApiError::invalid("since", "must be an RFC 3339 time"))?;
    // Deliveries are recovered for 14 days: an earlier time means all of them.
    let since = since.max(app.clock.now() - RECOVER_WINDOW);
    let queued = app
        .outbound
        .recover(&webhook, since)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tracing::info!(account_id = %caller.account_id, webhook_id = %webhook.id, queued, "recover queued");
    Ok(json(202, &RecoverOut { queued }).build())
}

/// `POST /webhook/{id}/test` on an outbound webhook: one signed test event, recorded nowhere.
pub async fn test<P: Platform>(app: &App<P>, webhook: &Webhook) -> OutboundTestOut {
    let attempt = app.outbound.send_test(webhook).await;
    OutboundTestOut {
        ok: attempt.status.is_some_and(|s| (200..300).contains(&s)),
        attempt: AttemptOut::new(&attempt),
    }
}
