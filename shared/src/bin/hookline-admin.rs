//! Operator command: API keys, and the local stack's resources.
//!
//!   hookline-admin keys create --account ACCOUNT [--name NAME] [--scope full|read]
//!   hookline-admin keys list --account ACCOUNT
//!   hookline-admin keys revoke --account ACCOUNT --key-id KEY_ID
//!   hookline-admin init-local [--queue NAME]... [--ses-domain DOMAIN] [--kms-alias alias/NAME]
//!   hookline-admin reseal
//!   hookline-admin openapi     (prints the API's OpenAPI document; needs no environment)
//!
//! Reads HOOKLINE_TABLE_NAME (and, for `reseal`, which seals the credentials of webhooks
//! stored before sealing, HOOKLINE_KMS_KEY_ID) and the standard AWS environment (AWS_ENDPOINT_URL for the local
//! stack). `init-local` creates what the SAM template creates in a deployed stack: the table,
//! each queue with a `-dlq` dead-letter queue, a verified SES domain, and the KMS key (behind
//! an alias) that seals webhook credentials.

use std::process::ExitCode;

use hookline::apikeys;
use hookline::config::{aws_sdk_config, required};
use hookline::store::dynamo::DynamoStore;
use hookline::store::{ApiKeyStore, KeyScope};
use time::format_description::well_known::Rfc3339;

const USAGE: &str = "usage:
  hookline-admin keys create --account ACCOUNT [--name NAME] [--scope full|read]
  hookline-admin keys list --account ACCOUNT
  hookline-admin keys revoke --account ACCOUNT --key-id KEY_ID
  hookline-admin init-local [--queue NAME]... [--ses-domain DOMAIN] [--kms-alias alias/NAME]
  hookline-admin reseal    (seals the credentials of webhooks stored before sealing)
  hookline-admin openapi   (prints the API's OpenAPI document, as GET /api/v1/openapi.json answers)
environment: HOOKLINE_TABLE_NAME (and HOOKLINE_KMS_KEY_ID for reseal), and AWS_ENDPOINT_URL / AWS_REGION / credentials as usual";

/// `--flag value` pairs after the subcommand words.
fn options(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        out.push((name.to_string(), value.clone()));
    }
    Ok(out)
}

fn one(opts: &[(String, String)], name: &str) -> Option<String> {
    opts.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn need(opts: &[(String, String)], name: &str) -> Result<String, String> {
    one(opts, name).ok_or_else(|| format!("--{name} is required"))
}

fn check_known(opts: &[(String, String)], known: &[&str]) -> Result<(), String> {
    match opts.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        Some((k, _)) => Err(format!("unknown option --{k}")),
        None => Ok(()),
    }
}

async fn run(args: Vec<String>) -> Result<(), String> {
    let words: Vec<&str> = args
        .iter()
        .take_while(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let opts = options(&args[words.len()..])?;
    if words == ["openapi"] {
        check_known(&opts, &[])?;
        let document = hookline::api::openapi::document();
        println!(
            "{}",
            serde_json::to_string_pretty(&document).expect("documents serialise")
        );
        return Ok(());
    }
    let sdk = aws_sdk_config().await;
    let table = required("HOOKLINE_TABLE_NAME").map_err(|e| e.to_string())?;
    let store = DynamoStore::from_sdk_config(&sdk, table);
    match words.as_slice() {
        ["keys", "create"] => {
            check_known(&opts, &["account", "name", "scope"])?;
            let account = need(&opts, "account")?;
            let name = one(&opts, "name").unwrap_or_else(|| "default".into());
            let scope = match one(&opts, "scope") {
                None => KeyScope::Full,
                Some(s) => KeyScope::parse(&s).ok_or("--scope must be full or read")?,
            };
            let now = time::OffsetDateTime::now_utc();
            let (key, record) = apikeys::issue(&store, &account, &name, scope, now)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!(
                "created {} for account {} (shown once; store it now)",
                record.key_id, record.account_id
            );
            println!("{key}");
        }
        ["keys", "list"] => {
            check_known(&opts, &["account"])?;
            let account = need(&opts, "account")?;
            let keys = store
                .list_api_keys(&account)
                .await
                .map_err(|e| e.to_string())?;
            for k in keys {
                let created = k.created_at.format(&Rfc3339).unwrap_or_default();
                println!(
                    "{}\t{}\t{}\t{}",
                    k.key_id,
                    created,
                    k.scope.as_str(),
                    k.name
                );
            }
        }
        ["reseal"] => {
            check_known(&opts, &[])?;
            let store = store.with_sealer(
                hookline::config::credentials_sealer(&sdk).map_err(|e| e.to_string())?,
            );
            let done = store.reseal_webhooks().await.map_err(|e| e.to_string())?;
            eprintln!(
                "sealed {} webhooks; {} were sealed already; {} changed meanwhile (sealed by that change); {} failed (logged: run again)",
                done.sealed, done.already, done.changed, done.failed
            );
            if done.failed > 0 {
                return Err(format!("{} webhooks not resealed", done.failed));
            }
        }
        ["keys", "revoke"] => {
            check_known(&opts, &["account", "key-id"])?;
            let (account, key_id) = (need(&opts, "account")?, need(&opts, "key-id")?);
            store
                .revoke_api_key(&account, &key_id)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("revoked {key_id}");
        }
        ["init-local"] => {
            check_known(&opts, &["queue", "ses-domain", "kms-alias"])?;
            store.create_table().await.map_err(|e| e.to_string())?;
            eprintln!("table {} ready", store.table());
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            for (_, name) in opts.iter().filter(|(k, _)| k == "queue") {
                let url = hookline::local::create_queue_with_dlq(&sqs, name, 20)
                    .await
                    .map_err(|e| e.to_string())?;
                eprintln!("queue {name} ready: {url}");
            }
            if let Some(alias) = one(&opts, "kms-alias") {
                let kms = aws_sdk_kms::Client::new(&sdk);
                let key = hookline::local::kms_key_for_alias(&kms, &alias).await?;
                eprintln!("KMS key {alias} ready: {key}");
            }
            if let Some(domain) = one(&opts, "ses-domain") {
                let ses = aws_sdk_sesv2::Client::new(&sdk);
                match ses
                    .create_email_identity()
                    .email_identity(&domain)
                    .send()
                    .await
                {
                    Ok(_) => eprintln!("SES identity {domain} ready"),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_already_exists_exception()) =>
                    {
                        eprintln!("SES identity {domain} ready")
                    }
                    Err(e) => {
                        return Err(format!(
                            "SES identity {domain}: {}",
                            aws_sdk_sesv2::error::DisplayErrorContext(e)
                        ))
                    }
                }
            }
        }
        _ => return Err(USAGE.to_string()),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hookline-admin: {message}");
            ExitCode::FAILURE
        }
    }
}
