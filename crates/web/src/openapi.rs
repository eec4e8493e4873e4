//! The OpenAPI document: derived from the handlers' `#[utoipa::path]` annotations and
//! the DTOs, with the bearer security scheme and the error codes from `CODES`.

use crate::error::ErrorBody;
use crate::{accounts, cases, routes};
use lineout_app::error::CODES;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "lineout",
        description = "Cancel a subscriber's line end to end: accounts, lines and devices, cancellation cases and their commands.\n\n\
Authenticate with `Authorization: Bearer lo_…`. Scopes: `cases:read`, `cases:write`, `cases:customer`, `cases:verify` (verify `api` cases by the operator's token), \
`accounts:read`, `accounts:write`, `port:request` (the new operator's port requests), `esim:notify` (the SM-DP+'s ES2+ notifications), `admin` (implies all).\n\n\
Every error is `{\"code\", \"message\", \"details\"}`; `details.request_id` matches the `x-request-id` header. \
Besides the statuses listed per operation, any path answers 404 `not_found` when no route matches and 405 \
`method_not_allowed` when the route does not take the method."
    ),
    paths(
        routes::health,
        routes::openapi_json,
        crate::metrics::scrape,
        accounts::put_account,
        accounts::get_account,
        accounts::get_ledger,
        accounts::put_line,
        accounts::find_lines,
        accounts::get_line,
        accounts::put_device,
        accounts::get_device,
        accounts::import_accounts,
        accounts::import_lines,
        accounts::import_devices,
        cases::open_case,
        cases::list_cases,
        cases::get_case,
        cases::command_case,
        crate::numbers::issue_transfer_pin,
        crate::numbers::request_port,
        crate::numbers::list_numbers,
        crate::numbers::get_number,
        crate::numbers::download_progress,
        crate::numbers::check_authenticity,
        crate::cases::return_label,
        crate::cases::statement,
        crate::verification::send_code,
        crate::verification::verify,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security, &ErrorCodes),
    tags(
        (name = "cases", description = "Cancellation cases."),
        (name = "accounts", description = "Accounts, lines and devices."),
        (name = "import", description = "Bulk imports, up to 1,000 rows a request."),
        (name = "system", description = "Health, metrics and this document."),
    )
)]
struct ApiDoc;

/// The bearer-token security scheme.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("lo_…").build()),
        );
    }
}

/// Lists every stable error code in the error schema: `code` becomes an enum, and the
/// schema's description is the table of codes, statuses and meanings.
struct ErrorCodes;

impl Modify for ErrorCodes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let Some(RefOr::T(Schema::Object(error))) = components.schemas.get_mut("ErrorBody") else { return };
        let table: String =
            CODES.iter().map(|(code, status, what)| format!("\n- `{code}` ({status}): {what}")).collect();
        error.description = Some(format!("An error. Codes:{table}"));
        let code = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A stable error code."))
            .enum_values(Some(CODES.iter().map(|(code, _, _)| *code)))
            .build();
        error.properties.insert("code".into(), RefOr::T(Schema::Object(code)));
    }
}

/// The document served at `/api/v1/openapi.json`.
pub fn openapi() -> Document {
    ApiDoc::openapi()
}
