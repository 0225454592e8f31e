//! Phone numbers: one stored form (E.164) whatever the spelling they were typed in.

use std::fmt;

use super::{ValidationError, check_chars};

string_value!(
    /// A phone number in E.164 form: `+`, a country code not starting with 0, and at most 15
    /// digits in all (`+60123456789`). One number has one stored form, so it cannot be
    /// registered twice in two spellings (column `users.phone_number`, VARCHAR(20), unique),
    /// and a number a channel reports (an SMS sender) matches it exactly.
    PhoneNumber
);

impl PhoneNumber {
    /// E.164 allows at most 15 digits after the `+`.
    pub const MAX_DIGITS: usize = 15;
    /// Room for the digits and the separators people write between them.
    pub const MAX_CHARS: usize = 32;

    /// A number in international form. Spaces, hyphens, dots and parentheses between the
    /// digits are accepted and dropped.
    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("phone_number", &value, 0, Self::MAX_CHARS)?;
        Self::international(&value).ok_or_else(|| {
            ValidationError::new(
                "phone_number",
                "must be an international number in E.164 form, such as +60123456789",
            )
        })
    }

    fn international(value: &str) -> Option<Self> {
        let compact: String = value
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+')?;
        let well_formed = (2..=Self::MAX_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        well_formed.then_some(Self(compact))
    }
}

/// A country whose national spellings are understood (`PHONE_DEFAULT_REGION`, an ISO 3166
/// code such as `MY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneRegion(phonenumber::country::Id);

impl PhoneRegion {
    /// `None` when `code` names no region that has a numbering plan.
    pub fn parse(code: &str) -> Option<Self> {
        let id: phonenumber::country::Id = code.trim().to_ascii_uppercase().parse().ok()?;
        // Regions the metadata has no plan for would accept nothing.
        phonenumber::metadata::DATABASE
            .by_id(id.as_ref())
            .map(|_| Self(id))
    }
}

impl fmt::Display for PhoneRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

/// How typed phone numbers are read: international numbers always (as they always were),
/// and national spellings (`012-7903 8038`) when a default region is set, checked against
/// that region's numbering plan and stored in E.164.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhoneRules {
    default_region: Option<PhoneRegion>,
}

impl PhoneRules {
    pub fn new(default_region: Option<PhoneRegion>) -> Self {
        Self { default_region }
    }

    pub fn default_region(&self) -> Option<PhoneRegion> {
        self.default_region
    }

    /// The number `value` spells, in E.164.
    pub fn parse(&self, value: &str) -> Result<PhoneNumber, ValidationError> {
        check_chars("phone_number", value, 0, PhoneNumber::MAX_CHARS)?;
        if value.trim_start().starts_with('+') {
            // International numbers keep the rule they always had, so every stored number
            // still parses to itself.
            return PhoneNumber::parse(value);
        }
        let Some(region) = self.default_region else {
            return PhoneNumber::parse(value);
        };
        let refused = |reason: String| {
            Err(ValidationError::new(
                "phone_number",
                format!("is not a phone number of {region} ({reason})"),
            ))
        };
        let number = match phonenumber::parse(Some(region.0), value) {
            Ok(number) => number,
            Err(error) => return refused(error.to_string()),
        };
        if !phonenumber::is_valid(&number) {
            return refused("no such number in its numbering plan".into());
        }
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        PhoneNumber::international(&e164).map_or_else(|| refused("it has no E.164 form".into()), Ok)
    }
}

string_value!(
    /// A channel's own id of a message it delivered (Twilio's `MessageSid`), or of one
    /// delivery of it: 1–64 printable ASCII characters. Remembered so that a delivery the
    /// channel retries is taken once.
    ChannelMessageId
);

impl ChannelMessageId {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        check_chars("MessageSid", &value, 1, Self::MAX_CHARS)?;
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                "MessageSid",
                "must be printable ASCII without spaces",
            ));
        }
        Ok(Self(value))
    }
}
