//! What the API returns: the registry's records as JSON with OpenAPI schemas. They mirror
//! `hearth_model` (which stays free of utoipa) field for field; ids are strings.

use hearth_model::{
    Aggregate, Application, AuditEntry, Device, Grant, Group, Membership, Millis, Permission,
    Point, Role, StatusChange, StoredMessage, User,
};
use serde::Serialize;
use utoipa::ToSchema;

/// A page of a listing that can grow.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    /// How many match in all (ignoring `limit` and `offset`).
    pub total: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub name: String,
    pub display_name: String,
    pub email: Option<String>,
    pub language: String,
    pub is_admin: bool,
    pub created_at_ms: Millis,
}

impl From<User> for UserView {
    fn from(user: User) -> UserView {
        UserView {
            name: user.name.to_string(),
            display_name: user.display_name,
            email: user.email,
            language: user.language,
            is_admin: user.is_admin,
            created_at_ms: user.created_at_ms,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub group: String,
    pub user: String,
    #[schema(value_type = String, example = "member")]
    pub role: Role,
}

impl From<Membership> for MembershipView {
    fn from(membership: Membership) -> MembershipView {
        MembershipView {
            group: membership.group.to_string(),
            user: membership.user.to_string(),
            role: membership.role,
        }
    }
}

/// The caller, with their groups.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub user: UserView,
    pub memberships: Vec<MembershipView>,
    pub grants: Vec<GrantView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    pub created_at_ms: Millis,
    /// The caller's role in it (`owner` for hub admins who are not members).
    #[schema(value_type = Option<String>)]
    pub my_role: Option<Role>,
}

impl GroupView {
    pub fn new(group: Group, my_role: Option<Role>) -> GroupView {
        GroupView {
            id: group.id.to_string(),
            name: group.name,
            created_at_ms: group.created_at_ms,
            my_role,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AppView {
    pub id: String,
    pub group: String,
    pub name: String,
    pub description: String,
    /// The MQTT user name of the application.
    pub mqtt_key: String,
    pub created_at_ms: Millis,
    /// What the caller may do with its devices.
    #[schema(value_type = Option<String>)]
    pub my_permission: Option<Permission>,
    /// A discovery login: devices announce themselves with Home Assistant MQTT
    /// discovery through this application's key and secret.
    pub discovery: bool,
    /// Days the raw messages of its devices are kept; `null` means the hub's default
    /// (`[history]`, 7 days unless configured).
    #[schema(minimum = 1, maximum = 3650)]
    pub message_retention_days: Option<u32>,
}

impl AppView {
    pub fn new(app: Application, my_permission: Option<Permission>) -> AppView {
        AppView {
            id: app.id.to_string(),
            group: app.group.to_string(),
            name: app.name,
            description: app.description,
            mqtt_key: app.mqtt_key,
            created_at_ms: app.created_at_ms,
            my_permission,
            discovery: app.discovery,
            message_retention_days: app.message_retention_days,
        }
    }
}

/// An application with its MQTT secret, shown once (at creation or rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct AppSecretView {
    pub app: AppView,
    pub mqtt_key: String,
    pub mqtt_secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    pub application: String,
    pub user: String,
    #[schema(value_type = String, example = "control")]
    pub permission: Permission,
}

impl From<Grant> for GrantView {
    fn from(grant: Grant) -> GrantView {
        GrantView {
            application: grant.application.to_string(),
            user: grant.user.to_string(),
            permission: grant.permission,
        }
    }
}

/// What a device last reported.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceLiveView {
    pub is_online: bool,
    pub last_seen_ms: Option<Millis>,
    pub last_heartbeat_ms: Option<Millis>,
    pub device_status: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub last_report_data: Option<serde_json::Value>,
    /// Where the device is attached while online (issue 20, devices that move between
    /// a home hub and this one): `"direct"` (its own connection to this hub) or the id
    /// of the site whose link relays it; `null` when offline or not known (kept in
    /// memory: unknown after a restart until the device is heard from).
    pub attached_via: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: String,
    pub application: String,
    pub name: String,
    pub kind: String,
    pub room: Option<String>,
    pub firmware: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub enabled: bool,
    pub heartbeat_timeout_secs: Option<u32>,
    pub created_at_ms: Millis,
    /// The site (home hub) whose link relays it, if any (issue 20).
    pub site: Option<String>,
    pub live: DeviceLiveView,
}

impl From<Device> for DeviceView {
    fn from(device: Device) -> DeviceView {
        DeviceView {
            id: device.id.to_string(),
            application: device.application.to_string(),
            name: device.name,
            kind: device.kind,
            room: device.room,
            firmware: device.firmware,
            metadata: device.metadata,
            enabled: device.enabled,
            heartbeat_timeout_secs: device.heartbeat_timeout_secs,
            created_at_ms: device.created_at_ms,
            site: device.site.map(|site| site.to_string()),
            live: DeviceLiveView {
                is_online: device.live.is_online,
                last_seen_ms: device.live.last_seen_ms,
                last_heartbeat_ms: device.live.last_heartbeat_ms,
                device_status: device.live.device_status,
                last_report_data: device.live.last_report_data,
                attached_via: None,
            },
        }
    }
}

/// A device with its MQTT secret, shown once (at creation or rotation).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceSecretView {
    pub device: DeviceView,
    /// The MQTT password of the device (its user name and client id are its id).
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub seq: i64,
    pub at_ms: Millis,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// What changed, when the action records more than its target; `null` when it
    /// does not (most registry changes).
    #[schema(value_type = Option<Object>)]
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(entry: AuditEntry) -> AuditEntryView {
        AuditEntryView {
            seq: entry.seq,
            at_ms: entry.at_ms,
            actor: entry.actor,
            action: entry.action,
            target: entry.target,
            detail: entry.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub seq: i64,
    /// `data`, `status`, `heartbeat` or `event`.
    pub kind: String,
    pub received_at_ms: Millis,
    /// The payload as JSON when it was JSON.
    #[schema(value_type = Option<Object>)]
    pub json: Option<serde_json::Value>,
    /// The payload as text when it was not JSON but UTF-8.
    pub text: Option<String>,
    /// The payload's size in bytes.
    pub size: usize,
    /// The payload's `ts` lay outside the hub's skew window: `received_at_ms` is the
    /// receive time, not the device's.
    pub ts_clamped: bool,
}

impl From<StoredMessage> for MessageView {
    fn from(message: StoredMessage) -> MessageView {
        let json = message
            .json_ok
            .then(|| serde_json::from_slice(&message.payload).ok())
            .flatten();
        let text = if json.is_none() {
            String::from_utf8(message.payload.clone()).ok()
        } else {
            None
        };
        MessageView {
            seq: message.seq,
            kind: message.kind.as_str().to_owned(),
            received_at_ms: message.received_at_ms,
            size: message.payload.len(),
            ts_clamped: message.ts_clamped,
            json,
            text,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PointView {
    pub metric: String,
    pub at_ms: Millis,
    pub value: f64,
}

impl From<Point> for PointView {
    fn from(point: Point) -> PointView {
        PointView {
            metric: point.metric,
            at_ms: point.at_ms,
            value: point.value,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AggregateView {
    pub bucket_start_ms: Millis,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: u64,
}

impl From<Aggregate> for AggregateView {
    fn from(aggregate: Aggregate) -> AggregateView {
        AggregateView {
            bucket_start_ms: aggregate.bucket_start_ms,
            min: aggregate.min,
            max: aggregate.max,
            avg: aggregate.avg,
            count: aggregate.count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChangeView {
    pub at_ms: Millis,
    pub online: bool,
    /// `activity`, `status`, `disconnect`, `timeout` or `restart`.
    pub reason: String,
}

impl From<StatusChange> for StatusChangeView {
    fn from(change: StatusChange) -> StatusChangeView {
        StatusChangeView {
            at_ms: change.at_ms,
            online: change.online,
            reason: change.reason.as_str().to_owned(),
        }
    }
}
