//! The [`Transport`] over `wasi:http/outgoing-handler` (WASI 0.2), the only way out of the sandbox.
//!
//! Blocking on the host's pollables is fine here: a step handles one request at a time, and the time it waits
//! counts against the step's `timeout`, not its fuel.

use super::{MAX_BODY, Request, Response, Scheme, Transport, TransportError};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme as WasiScheme,
    http_error_code,
};
use wasip2::io::streams::StreamError;

/// Sends through the host's wasi-http implementation.
pub struct WasiHttp;

/// The host's error code as one of ours: a refused origin, a network failure worth retrying, or the rest.
fn classify(code: ErrorCode) -> TransportError {
    use ErrorCode as E;
    let text = format!("{code:?}");
    match code {
        E::HttpRequestDenied | E::DestinationIpProhibited => TransportError::Denied(text),
        E::DnsTimeout
        | E::DnsError(_)
        | E::DestinationNotFound
        | E::DestinationUnavailable
        | E::DestinationIpUnroutable
        | E::ConnectionRefused
        | E::ConnectionTerminated
        | E::ConnectionTimeout
        | E::ConnectionReadTimeout
        | E::ConnectionWriteTimeout
        | E::ConnectionLimitReached
        | E::TlsProtocolError
        | E::HttpResponseIncomplete
        | E::HttpResponseTimeout => TransportError::Unreachable(text),
        _ => TransportError::Failed(text),
    }
}

fn failed(what: &str) -> TransportError {
    TransportError::Failed(format!("the host rejected the request's {what}"))
}

impl Transport for WasiHttp {
    fn send(&mut self, req: &Request) -> Result<Response, TransportError> {
        let entries: Vec<(String, Vec<u8>)> =
            req.headers.iter().map(|(name, value)| (name.clone(), value.as_bytes().to_vec())).collect();
        // The header error would say which header; its Debug form is kept out, as the value may be the key.
        let headers = Fields::from_list(&entries).map_err(|_| failed("headers"))?;
        let outgoing = OutgoingRequest::new(headers);
        outgoing.set_method(&Method::Get).map_err(|()| failed("method"))?;
        let scheme = match req.scheme {
            Scheme::Http => WasiScheme::Http,
            Scheme::Https => WasiScheme::Https,
        };
        outgoing.set_scheme(Some(&scheme)).map_err(|()| failed("scheme"))?;
        outgoing.set_authority(Some(&req.authority)).map_err(|()| failed("host"))?;
        outgoing.set_path_with_query(Some(&req.path)).map_err(|()| failed("path"))?;
        // A GET has an empty body, but it must still be finished, or the host waits for more of it.
        let body = outgoing.body().map_err(|()| failed("body"))?;
        OutgoingBody::finish(body, None).map_err(classify)?;

        let options = RequestOptions::new();
        let nanos = u64::try_from(req.timeout.as_nanos()).unwrap_or(u64::MAX);
        // A host that does not support one of these says so with an error; the step's `timeout` still bounds
        // the wait then, so the refusal is not worth failing over.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));

        let future = outgoing_handler::handle(outgoing, Some(options)).map_err(classify)?;
        let response = loop {
            match future.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(code))) => return Err(classify(code)),
                Some(Err(())) => return Err(TransportError::Failed("the response was already taken".into())),
                None => future.subscribe().block(),
            }
        };
        let status = response.status();
        let incoming = response.consume().map_err(|()| TransportError::Failed("the body was already taken".into()))?;
        let stream =
            incoming.stream().map_err(|()| TransportError::Failed("the body stream was already taken".into()))?;
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_BODY {
                        return Err(TransportError::Failed(format!("the answer is over {MAX_BODY} bytes")));
                    }
                }
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match http_error_code(&e) {
                        Some(code) => classify(code),
                        None => TransportError::Unreachable(format!("reading the answer: {}", e.to_debug_string())),
                    });
                }
            }
        }
        // The stream is a child of the body: it must go before the body can be finished.
        drop(stream);
        let _trailers = IncomingBody::finish(incoming);
        Ok(Response { status, body })
    }
}
