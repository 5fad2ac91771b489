//! Agent runs (issue 12): the `responder run` wrapper and `POST /v1/agent-runs`.

mod service;
mod wrapper;
