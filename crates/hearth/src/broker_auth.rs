//! The API's [`BrokerAuthority`] seam over the registry's authorizer (issue 21): the
//! endpoints an external broker calls (`hearth_api` `routes/broker_auth`) get the same
//! decisions the built-in broker gets, from `RegistryAuthorizer::external_login` and
//! `external_allows` (hearth-services `auth/external.rs`). Only types are translated
//! here, so that the API crate keeps knowing nothing of the bus's types.

use async_trait::async_trait;
use hearth_api::{BrokerAccess, BrokerAuthority, BrokerLogin, BrokerSession};
use hearth_bus::{Action, ConnectRequest, Transport};
use hearth_services::RegistryAuthorizer;
use hearth_services::auth::ExternalAccess;
use std::net::SocketAddr;
use std::sync::Arc;

/// [`BrokerAuthority`] over the hub's authorizer.
pub struct BrokerAuthAdapter(pub Arc<RegistryAuthorizer>);

#[async_trait]
impl BrokerAuthority for BrokerAuthAdapter {
    async fn login(&self, login: BrokerLogin) -> Result<BrokerSession, String> {
        let request = ConnectRequest {
            client_id: login.client_id.into(),
            username: login.username.map(Into::into),
            password: login.password.map(Into::into),
            // The broker tells the address, not the port: the limiter counts addresses.
            remote_addr: login.peer.map(|ip| SocketAddr::new(ip, 0)),
            // Whatever the client used to reach the broker; the authorizer decides
            // nothing by transport for passwords, and no certificate is passed (a
            // certificate the broker verified is not one the hub verified).
            transport: Transport::Tcp,
            protocol_level: 5,
            client_cert: None,
        };
        let login = self
            .0
            .external_login(&request)
            .await
            .map_err(|error| error.message)?;
        Ok(BrokerSession {
            expires_at_ms: login.expires_at_ms,
            preset: login
                .preset
                .into_iter()
                .map(|(action, topic)| (action == Action::Publish, topic))
                .collect(),
        })
    }

    fn allows(
        &self,
        username: Option<&str>,
        client_id: &str,
        access: BrokerAccess,
        topic: &str,
    ) -> bool {
        let access = match access {
            BrokerAccess::Publish => ExternalAccess::Publish,
            BrokerAccess::Subscribe => ExternalAccess::Subscribe,
            BrokerAccess::SubscribeCheckedPerDelivery => {
                ExternalAccess::SubscribeCheckedPerDelivery
            }
            BrokerAccess::Receive => ExternalAccess::Receive,
        };
        self.0.external_allows(username, client_id, access, topic)
    }
}
