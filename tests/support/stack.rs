//! Both HTTP functions (management API and inbound resolver) over one DynamoDB table in the
//! local stack, as deployed.

use std::sync::Arc;

use hookline::clock::SystemClock;
use hookline::http::ReqwestClient;
use hookline::inbound::{Resolver, ResolverSettings};
use hookline::notify::SesMailer;
use hookline::store::dynamo::DynamoStore;
use inbound_resolver::ResolverApp;
use serde_json::Value;

use crate::{api_gateway_request, bearer, read_response, TestApi, TestResponse};

pub const BASE: &str = "/api/v1/webhook";

pub struct Stack {
    pub api: TestApi,
    pub resolver: ResolverApp<DynamoStore, ReqwestClient, SesMailer>,
}

impl Stack {
    /// Both functions over one table, as deployed.
    pub async fn new() -> Self {
        let api = TestApi::new().await;
        let store = api.app.store.clone();
        let resolver = Resolver {
            http: ReqwestClient::new(crate::local_egress()),
            mailer: crate::ses_mailer().await,
            store: store.clone(),
            clock: Arc::new(SystemClock),
            settings: ResolverSettings::default(),
        };
        Self {
            api,
            resolver: ResolverApp { store, resolver },
        }
    }

    pub async fn resolve(&self, key: Option<&str>, id: &str, body: Option<Value>) -> TestResponse {
        let headers = key.map(bearer).unwrap_or_default();
        let req = api_gateway_request(
            "POST",
            &format!("{BASE}/{id}/resolve"),
            headers,
            body.map(|b| b.to_string()),
        );
        read_response(self.resolver.handle(req).await)
    }

    pub async fn create(&self, key: &str, body: Value) -> String {
        let r = self.api.call("POST", BASE, Some(key), Some(body)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["id"].as_str().unwrap().to_string()
    }
}
