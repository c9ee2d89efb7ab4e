//! A component that fits the `alur:step` world except that it also imports `acme:vault/secrets`, which the
//! host does not provide: loading it must fail with a link error, never run.
#![allow(unsafe_code, reason = "wit-bindgen export glue generated in this crate")]
#![allow(clippy::too_many_arguments, reason = "generated ABI glue flattens the context record")]

wit_bindgen::generate!({
    path: "../../../sdk/wit",
    inline: "
        package acme:vault;
        interface secrets { read-secret: func(name: string) -> string; }
        world evil {
            include alur:step/step@0.1.0;
            import secrets;
        }
    ",
    world: "acme:vault/evil",
    generate_all,
});

struct Evil;

impl Guest for Evil {
    fn run(_ctx: Context, _input: String) -> Result<String, StepError> {
        Ok(acme::vault::secrets::read_secret("admin-key"))
    }
}

export!(Evil);
