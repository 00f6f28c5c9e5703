//! Schema definitions (RFC 7643 §4, §7, §8.7) with the attribute metadata the filter
//! evaluator, the PATCH engine and the projection follow, and their JSON for `/Schemas`.

use serde_json::{json, Map, Value};

/// Core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension.
pub const ENTERPRISE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// This platform's BPO extension of User (hire and exit dates, site, process, team, job role).
pub const BPO_USER_SCHEMA: &str = "urn:bposhield:scim:schemas:extension:bpo:2.0:User";
/// List response message.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// PATCH request message.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `/.search` request message.
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// Service provider configuration schema.
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
/// Resource type schema.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// Schema schema.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// An attribute's data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Binary => "binary",
            Self::Reference => "reference",
            Self::Complex => "complex",
        }
    }
}

/// Whether and how an attribute may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
            Self::WriteOnly => "writeOnly",
        }
    }
}

/// When an attribute is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

/// Uniqueness of an attribute's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute definition.
#[derive(Debug)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub description: &'static str,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [Attribute],
}

const fn a(name: &'static str, ty: AttrType, description: &'static str) -> Attribute {
    Attribute {
        name,
        ty,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        description,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
    }
}

const fn s(name: &'static str, description: &'static str) -> Attribute {
    a(name, AttrType::String, description)
}

impl Attribute {
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    const fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    const fn unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }
    const fn canonical(mut self, v: &'static [&'static str]) -> Self {
        self.canonical_values = v;
        self
    }
    const fn refs(mut self, r: &'static [&'static str]) -> Self {
        self.reference_types = r;
        self
    }
    const fn subs(mut self, s: &'static [Attribute]) -> Self {
        self.sub_attributes = s;
        self
    }

    /// The sub-attribute `name` (case-insensitive).
    #[must_use]
    pub fn sub(&self, name: &str) -> Option<&'static Attribute> {
        self.sub_attributes.iter().find(|x| x.name.eq_ignore_ascii_case(name))
    }

    /// The `/Schemas` representation.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("name".into(), json!(self.name));
        o.insert("type".into(), json!(self.ty.as_str()));
        o.insert("multiValued".into(), json!(self.multi_valued));
        o.insert("description".into(), json!(self.description));
        o.insert("required".into(), json!(self.required));
        if matches!(self.ty, AttrType::String | AttrType::Reference | AttrType::Binary) {
            o.insert("caseExact".into(), json!(self.case_exact));
        }
        if !self.canonical_values.is_empty() {
            o.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        if !self.reference_types.is_empty() {
            o.insert("referenceTypes".into(), json!(self.reference_types));
        }
        o.insert("mutability".into(), json!(self.mutability.as_str()));
        o.insert("returned".into(), json!(self.returned.as_str()));
        if self.ty != AttrType::Complex {
            o.insert("uniqueness".into(), json!(self.uniqueness.as_str()));
        }
        if !self.sub_attributes.is_empty() {
            o.insert("subAttributes".into(), Value::Array(self.sub_attributes.iter().map(Self::to_json).collect()));
        }
        Value::Object(o)
    }
}

/// A schema: its URN and attributes.
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attribute],
}

impl Schema {
    /// The attribute `name` (case-insensitive).
    #[must_use]
    pub fn attr(&self, name: &str) -> Option<&'static Attribute> {
        self.attributes.iter().find(|x| x.name.eq_ignore_ascii_case(name))
    }

    /// The `/Schemas/{id}` representation; `base` is the SCIM base URL (for `meta.location`).
    #[must_use]
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(Attribute::to_json).collect::<Vec<_>>(),
            "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{}", self.id) },
        })
    }
}

use AttrType::{Binary, Boolean, Complex, DateTime, Reference};
use Mutability::{Immutable, ReadOnly, WriteOnly};

const PRIMARY: Attribute = a("primary", Boolean, "Whether this is the preferred value; true at most once.");
const DISPLAY: Attribute = s("display", "A human-readable name, primarily used for display purposes.");

macro_rules! plural {
    ($value:expr, $types:expr) => {
        &[$value, DISPLAY, s("type", "A label indicating the attribute's function.").canonical($types), PRIMARY]
    };
}

/// The attributes every resource has (RFC 7643 §3.1); not listed in a schema's
/// `attributes`, but known to filters, PATCH and projection.
pub static COMMON: &[Attribute] = &[
    s("id", "Unique identifier of the resource, issued by the service provider.")
        .exact()
        .mutability(ReadOnly)
        .returned(Returned::Always)
        .unique(),
    s("externalId", "Identifier of the resource as the provisioning client knows it.").exact(),
    a("meta", Complex, "Resource metadata.").mutability(ReadOnly).subs(&[
        s("resourceType", "The resource type name.").exact().mutability(ReadOnly),
        a("created", DateTime, "When the resource was added.").mutability(ReadOnly),
        a("lastModified", DateTime, "When the resource was last changed.").mutability(ReadOnly),
        a("location", Reference, "The URI of the resource.").exact().mutability(ReadOnly).refs(&["uri"]),
        s("version", "The entity tag of the resource.").exact().mutability(ReadOnly),
    ]),
];

/// The core User schema (RFC 7643 §4.1).
pub static USER: Schema = Schema {
    id: USER_SCHEMA,
    name: "User",
    description: "User Account; in bposhield, a person of the HR record.",
    attributes: &[
        s("userName", "Unique identifier for the User, typically the sign-in name.").required().unique(),
        a("name", Complex, "The components of the user's real name.").subs(&[
            s("formatted", "The full name, formatted for display."),
            s("familyName", "The family name."),
            s("givenName", "The given name."),
            s("middleName", "The middle name(s)."),
            s("honorificPrefix", "The honorific prefix(es)."),
            s("honorificSuffix", "The honorific suffix(es)."),
        ]),
        s("displayName", "The name of the User, suitable for display."),
        s("nickName", "The casual way to address the user."),
        a("profileUrl", Reference, "A URI of the user's online profile.").refs(&["external"]),
        s("title", "The user's title, such as \"Team Leader\"; the job role when the BPO extension has none."),
        s("userType", "The relationship between the organisation and the user."),
        s("preferredLanguage", "The user's preferred written or spoken language."),
        s("locale", "The user's default location for localisation."),
        s("timezone", "The user's time zone, in IANA format."),
        a("active", Boolean, "Whether the user works here; false makes the person a leaver."),
        s("password", "Accepted and discarded: SCIM users do not sign in to bposhield.")
            .mutability(WriteOnly)
            .returned(Returned::Never),
        a("emails", Complex, "Email addresses for the user.")
            .multi()
            .subs(plural!(s("value", "The e-mail address."), &["work", "home", "other"])),
        a("phoneNumbers", Complex, "Phone numbers for the user.")
            .multi()
            .subs(plural!(s("value", "The phone number."), &["work", "home", "mobile", "fax", "pager", "other"])),
        a("ims", Complex, "Instant messaging addresses for the user.").multi().subs(plural!(
            s("value", "The instant messaging address."),
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]
        )),
        a("photos", Complex, "URLs of photos of the user.")
            .multi()
            .subs(plural!(a("value", Reference, "The URL of a photo.").refs(&["external"]), &["photo", "thumbnail"])),
        a("addresses", Complex, "Physical mailing addresses.").multi().subs(&[
            s("formatted", "The full mailing address."),
            s("streetAddress", "The street address."),
            s("locality", "The city or locality."),
            s("region", "The state or region."),
            s("postalCode", "The postal code."),
            s("country", "The country name (ISO 3166-1 alpha-2)."),
            s("type", "A label indicating the address's function.").canonical(&["work", "home", "other"]),
            PRIMARY,
        ]),
        a("groups", Complex, "The groups the user belongs to (managed through Group resources).")
            .multi()
            .mutability(ReadOnly)
            .subs(&[
                s("value", "The identifier of the group.").mutability(ReadOnly),
                a("$ref", Reference, "The URI of the group.").mutability(ReadOnly).refs(&["User", "Group"]),
                s("display", "The group's name.").mutability(ReadOnly),
                s("type", "Direct or indirect membership.").mutability(ReadOnly).canonical(&["direct", "indirect"]),
            ]),
        a("entitlements", Complex, "Entitlements of the user.")
            .multi()
            .subs(plural!(s("value", "The entitlement."), &[])),
        a("roles", Complex, "Roles of the user.").multi().subs(plural!(s("value", "The role."), &[])),
        a("x509Certificates", Complex, "X.509 certificates of the user.")
            .multi()
            .subs(plural!(a("value", Binary, "The DER certificate, base64.").exact(), &[])),
    ],
};

/// The Enterprise User extension (RFC 7643 §4.3).
pub static ENTERPRISE_USER: Schema = Schema {
    id: ENTERPRISE_USER_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User: employeeNumber is the HR employee id; organization, department and division map to site, process unit and team.",
    attributes: &[
        s("employeeNumber", "The HR employee id (the person's correlation key)."),
        s("costCenter", "The cost center."),
        s("organization", "The site code (empty: the default site)."),
        s("division", "The team name within the process unit."),
        s("department", "The process unit code."),
        a("manager", Complex, "The user's manager.").subs(&[
            s("value", "The SCIM id of the manager."),
            a("$ref", Reference, "The URI of the manager's User.").refs(&["User"]),
            s("displayName", "The manager's display name.").mutability(ReadOnly),
        ]),
    ],
};

/// The bposhield BPO extension of User: fields the HR record needs that no standard
/// schema carries. Each overrides its Enterprise counterpart when present.
pub static BPO_USER: Schema = Schema {
    id: BPO_USER_SCHEMA,
    name: "BpoUser",
    description: "bposhield BPO extension: hire and exit dates (YYYY-MM-DD), site, process unit, team and job role; these override the Enterprise mapping.",
    attributes: &[
        s("hireDate", "First working day, YYYY-MM-DD (default: the day of creation)."),
        s("exitDate", "Exit date, YYYY-MM-DD (set to the day of deactivation for a leaver)."),
        s("site", "Site code; overrides enterprise organization."),
        s("process", "Process unit code; overrides enterprise department."),
        s("team", "Team name; overrides enterprise division."),
        s("jobRole", "Job role; overrides title and userType."),
    ],
};

/// The core Group schema (RFC 7643 §4.2).
pub static GROUP: Schema = Schema {
    id: GROUP_SCHEMA,
    name: "Group",
    description: "Group; stored as sent, not yet mapped to entitlements.",
    attributes: &[
        s("displayName", "A human-readable name for the Group.").required().unique(),
        a("members", Complex, "A list of members of the Group.").multi().subs(&[
            s("value", "The identifier of the member.").mutability(Immutable),
            a("$ref", Reference, "The URI of the member.").mutability(Immutable).refs(&["User", "Group"]),
            s("display", "The member's display name.").mutability(Immutable),
            s("type", "The member's resource type.").mutability(Immutable).canonical(&["User", "Group"]),
        ]),
    ],
};

/// The ServiceProviderConfig schema (RFC 7643 §5), published for discovery.
pub static SPC: Schema = Schema {
    id: SPC_SCHEMA,
    name: "Service Provider Configuration",
    description: "Schema for representing the service provider's configuration.",
    attributes: &[
        a("documentationUri", Reference, "An HTTP-addressable URL pointing to the help documentation.")
            .mutability(ReadOnly)
            .refs(&["external"]),
        a("patch", Complex, "PATCH configuration options.").required().mutability(ReadOnly).subs(&[SUPPORTED]),
        a("bulk", Complex, "Bulk configuration options.").required().mutability(ReadOnly).subs(&[
            SUPPORTED,
            a("maxOperations", AttrType::Integer, "Maximum number of operations.").required().mutability(ReadOnly),
            a("maxPayloadSize", AttrType::Integer, "Maximum payload size in bytes.").required().mutability(ReadOnly),
        ]),
        a("filter", Complex, "Filter options.").required().mutability(ReadOnly).subs(&[
            SUPPORTED,
            a("maxResults", AttrType::Integer, "Maximum number of resources returned.").required().mutability(ReadOnly),
        ]),
        a("changePassword", Complex, "Change password options.").required().mutability(ReadOnly).subs(&[SUPPORTED]),
        a("sort", Complex, "Sort options.").required().mutability(ReadOnly).subs(&[SUPPORTED]),
        a("etag", Complex, "ETag options.").required().mutability(ReadOnly).subs(&[SUPPORTED]),
        a("authenticationSchemes", Complex, "Supported authentication schemes.")
            .multi()
            .required()
            .mutability(ReadOnly)
            .subs(&[
                s("type", "The authentication scheme.").required().mutability(ReadOnly),
                s("name", "The common authentication scheme name.").required().mutability(ReadOnly),
                s("description", "A description of the authentication scheme.").required().mutability(ReadOnly),
                a("specUri", Reference, "The specification of the scheme.").mutability(ReadOnly).refs(&["external"]),
                a("documentationUri", Reference, "Help for the scheme.").mutability(ReadOnly).refs(&["external"]),
                a("primary", Boolean, "The preferred scheme.").mutability(ReadOnly),
            ]),
    ],
};

const SUPPORTED: Attribute =
    a("supported", Boolean, "Whether the operation is supported.").required().mutability(ReadOnly);

/// The ResourceType schema (RFC 7643 §6), published for discovery.
pub static RESOURCE_TYPE: Schema = Schema {
    id: RESOURCE_TYPE_SCHEMA,
    name: "ResourceType",
    description: "Specifies the schema that describes a SCIM resource type.",
    attributes: &[
        s("id", "The resource type's server unique id.").mutability(ReadOnly),
        s("name", "The resource type name.").required().mutability(ReadOnly),
        s("description", "The resource type's human-readable description.").mutability(ReadOnly),
        a("endpoint", Reference, "The resource type's HTTP-addressable endpoint.")
            .required()
            .mutability(ReadOnly)
            .refs(&["uri"]),
        a("schema", Reference, "The resource type's primary schema URI.")
            .required()
            .exact()
            .mutability(ReadOnly)
            .refs(&["uri"]),
        a("schemaExtensions", Complex, "A list of URIs of the resource type's schema extensions.")
            .multi()
            .mutability(ReadOnly)
            .subs(&[
                a("schema", Reference, "The URI of a schema extension.")
                    .required()
                    .exact()
                    .mutability(ReadOnly)
                    .refs(&["uri"]),
                a("required", Boolean, "Whether resources must include this extension.")
                    .required()
                    .mutability(ReadOnly),
            ]),
    ],
};

/// The Schema schema (RFC 7643 §7), published for discovery.
pub static SCHEMA: Schema = Schema {
    id: SCHEMA_SCHEMA,
    name: "Schema",
    description: "Specifies the schema attribute definitions.",
    attributes: &[
        s("id", "The unique URI of the schema.").required().exact().mutability(ReadOnly),
        s("name", "The schema's human-readable name.").mutability(ReadOnly),
        s("description", "The schema's human-readable description.").mutability(ReadOnly),
        a("attributes", Complex, "A complex attribute that includes the attributes of a schema.")
            .multi()
            .required()
            .mutability(ReadOnly)
            .subs(&[
                s("name", "The attribute's name.").required().exact().mutability(ReadOnly),
                s("type", "The attribute's data type.").required().mutability(ReadOnly),
                a("multiValued", Boolean, "Whether the attribute is multi-valued.").required().mutability(ReadOnly),
                s("description", "The attribute's description.").mutability(ReadOnly),
                a("required", Boolean, "Whether the attribute is required.").mutability(ReadOnly),
                s("canonicalValues", "Suggested values.").multi().mutability(ReadOnly),
                a("caseExact", Boolean, "Whether string values are case sensitive.").mutability(ReadOnly),
                s("mutability", "Whether the attribute is modifiable.").mutability(ReadOnly),
                s("returned", "When the attribute is returned.").mutability(ReadOnly),
                s("uniqueness", "How the service provider enforces uniqueness.").mutability(ReadOnly),
                s("referenceTypes", "The resource types a reference may refer to.").multi().mutability(ReadOnly),
                a("subAttributes", Complex, "The sub-attributes of a complex attribute.").multi().mutability(ReadOnly),
            ]),
    ],
};

/// Every schema `/Schemas` publishes.
pub static ALL_SCHEMAS: &[&Schema] = &[&USER, &ENTERPRISE_USER, &BPO_USER, &GROUP, &SPC, &RESOURCE_TYPE, &SCHEMA];

/// The schema with URN `id` (case-insensitive).
#[must_use]
pub fn schema_by_id(id: &str) -> Option<&'static Schema> {
    ALL_SCHEMAS.iter().copied().find(|s| s.id.eq_ignore_ascii_case(id))
}

/// A resource type: its endpoint, core schema and extensions.
#[derive(Debug)]
pub struct ResourceType {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static Schema,
    pub extensions: &'static [&'static Schema],
}

/// Users (with the Enterprise and BPO extensions, both optional).
pub static USER_TYPE: ResourceType = ResourceType {
    name: "User",
    endpoint: "/Users",
    description: "People of the HR record",
    schema: &USER,
    extensions: &[&ENTERPRISE_USER, &BPO_USER],
};

/// Groups.
pub static GROUP_TYPE: ResourceType =
    ResourceType { name: "Group", endpoint: "/Groups", description: "Groups", schema: &GROUP, extensions: &[] };

/// Every resource type.
pub static ALL_TYPES: &[&ResourceType] = &[&USER_TYPE, &GROUP_TYPE];

impl ResourceType {
    /// The `/ResourceTypes/{name}` representation.
    #[must_use]
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": self.extensions.iter().map(|e| json!({"schema": e.id, "required": false})).collect::<Vec<_>>(),
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", self.name) },
        })
    }

    /// The extension with URN `urn` (case-insensitive).
    #[must_use]
    pub fn extension(&self, urn: &str) -> Option<&'static Schema> {
        self.extensions.iter().copied().find(|e| e.id.eq_ignore_ascii_case(urn))
    }

    /// Whether `urn` is this type's core schema.
    #[must_use]
    pub fn is_core(&self, urn: &str) -> bool {
        self.schema.id.eq_ignore_ascii_case(urn)
    }

    /// The definition of a top-level attribute `name` of the schema `urn` (core when
    /// `None`), including the common attributes.
    #[must_use]
    pub fn attr(&self, urn: Option<&str>, name: &str) -> Option<&'static Attribute> {
        match urn {
            None => self.schema.attr(name).or_else(|| COMMON.iter().find(|x| x.name.eq_ignore_ascii_case(name))),
            Some(u) if self.is_core(u) => self.attr(None, name),
            Some(u) => self.extension(u)?.attr(name),
        }
    }
}

/// The `ServiceProviderConfig` document (RFC 7643 §5). `max_results` is the largest
/// page, `doc_uri` the help page.
#[must_use]
pub fn service_provider_config(base: &str, max_results: u32, doc_uri: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": doc_uri,
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": max_results },
        "changePassword": { "supported": false },
        "sort": { "supported": false },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A bposhield API token of a user holding the hr role, as Authorization: Bearer <token>.",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") },
    })
}
