use super::*;

#[test]
fn username_accepts_one_to_hundred_characters_counted_as_characters() {
    assert!(Username::parse("a").is_ok());
    assert!(Username::parse("é".repeat(100)).is_ok());
    assert_eq!(Username::parse("").unwrap_err().field, "username");
    assert!(Username::parse("x".repeat(101)).is_err());
}

#[test]
fn username_refuses_control_characters() {
    let err = Username::parse("bob\nalice").unwrap_err();
    assert_eq!(
        err.to_string(),
        "username: must not contain control characters"
    );
}

#[test]
fn email_must_be_a_valid_address_with_a_dotted_domain() {
    assert!(Email::parse("bob@example.com").is_ok());
    for bad in [
        "",
        "bob",
        "bob@",
        "@example.com",
        "bob@localhost",
        "Bob <bob@example.com>",
    ] {
        assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
    }
    let long = format!("{}@example.com", "a".repeat(250));
    assert_eq!(Email::parse(long).unwrap_err().field, "email");
}

#[test]
fn password_counts_bytes_not_characters() {
    assert!(Password::parse("12345678").is_ok());
    assert!(Password::parse("1234567").is_err());
    assert!(Password::parse("a".repeat(72)).is_ok());
    assert!(Password::parse("a".repeat(73)).is_err());
    // 24 three-byte characters are 72 bytes; 25 are 75.
    assert!(Password::parse("€".repeat(24)).is_ok());
    let err = Password::parse("€".repeat(25)).unwrap_err();
    assert_eq!(err.field, "password");
    assert!(err.rule.contains("72 bytes"), "{}", err.rule);
}

#[test]
fn password_debug_hides_the_secret() {
    let password = Password::parse("hunter2hunter2").unwrap();
    assert!(!format!("{password:?}").contains("hunter2"));
}

#[test]
fn user_and_session_debug_hide_hash_and_token() {
    let now = chrono::Utc::now();
    let user = crate::User {
        id: crate::UserId::new(1),
        username: Username::parse("bob").unwrap(),
        email: Email::parse("bob@example.com").unwrap(),
        hashed_password: crate::PasswordHash::new("$2b$04$secret"),
        is_active: true,
        is_superuser: false,
        full_name: None,
        bio: None,
        created_at: now,
        updated_at: now,
        phone_number: None,
        unverified_phone_number: None,
    };
    assert!(!format!("{user:?}").contains("$2b$"));
    let session = crate::Session {
        id: crate::SessionId::new(1),
        user_id: crate::UserId::new(1),
        session_token: crate::SessionToken::new("very-secret-token"),
        device_info: None,
        ip_address: None,
        is_active: true,
        expires_at: now,
        created_at: now,
        updated_at: now,
    };
    assert!(!format!("{session:?}").contains("very-secret-token"));
    let hash = crate::RefreshTokenHash::new("ba7816bf8f01cfea");
    assert!(!format!("{hash:?}").contains("ba78"));
}

#[test]
fn recorded_client_details_are_cut_to_their_columns() {
    assert_eq!(DeviceInfo::recorded(&"é".repeat(300)).chars().count(), 255);
    assert_eq!(IpAddress::recorded(&"1".repeat(60)).len(), 50);
    assert_eq!(DeviceInfo::recorded("curl/8"), "curl/8");
}

#[test]
fn text_fields_enforce_their_column_sizes() {
    assert!(FullName::parse("").is_ok());
    assert!(FullName::parse("x".repeat(255)).is_ok());
    assert!(FullName::parse("x".repeat(256)).is_err());
    assert!(Bio::parse("x".repeat(10_000)).is_ok());
    assert!(Bio::parse("x".repeat(10_001)).is_err());
    assert!(RoleName::parse("admin").is_ok());
    assert!(RoleName::parse("").is_err());
    assert!(RoleName::parse("x".repeat(101)).is_err());
    assert!(RoleDescription::parse("x".repeat(255)).is_ok());
    assert!(RoleDescription::parse("x".repeat(256)).is_err());
    assert!(ConversationId::parse("c").is_ok());
    assert!(ConversationId::parse("").is_err());
    assert!(ConversationId::parse("x".repeat(101)).is_err());
}

#[test]
fn message_content_must_have_visible_text_within_limit() {
    assert!(MessageContent::parse("hi").is_ok());
    assert!(MessageContent::parse("x".repeat(65_536)).is_ok());
    assert!(MessageContent::parse("x".repeat(65_537)).is_err());
    assert!(MessageContent::parse("").is_err());
    let err = MessageContent::parse(" \n\t ").unwrap_err();
    assert_eq!(err.field, "content");
}

#[test]
fn no_text_field_takes_a_nul_character() {
    assert_eq!(
        MessageContent::parse("a\0b").unwrap_err().to_string(),
        "content: must not contain NUL characters"
    );
    assert!(FullName::parse("a\0").is_err());
    assert!(Bio::parse("\0").is_err());
    assert!(RoleDescription::parse("\0").is_err());
    assert!(ConversationId::parse("c\0").is_err());
    assert!(Password::parse("password\0").is_err());
    assert!(Username::parse("a\0").is_err());
}

#[test]
fn default_conversation_id_orders_the_two_user_ids() {
    assert_eq!(
        ConversationId::between(UserId::new(7), UserId::new(3)).as_str(),
        "conv_3_7"
    );
    assert_eq!(
        ConversationId::between(UserId::new(3), UserId::new(7)).as_str(),
        "conv_3_7"
    );
    assert_eq!(
        ConversationId::between(UserId::new(5), UserId::new(5)).as_str(),
        "conv_5_5"
    );
}

#[test]
fn page_limit_is_one_to_five_hundred() {
    assert!(Page::new(0, 1).is_ok());
    assert!(Page::new(10, 500).is_ok());
    assert_eq!(Page::new(0, 0).unwrap_err().field, "limit");
    assert_eq!(Page::new(0, 501).unwrap_err().field, "limit");
    assert_eq!(Page::new(u64::MAX, 10).unwrap_err().field, "skip");
    assert_eq!(Page::default(), Page::new(0, 100).unwrap());
}

#[test]
fn query_pages_default_and_refuse_signed_or_oversized_values() {
    assert_eq!(Page::from_query(None, None).unwrap(), Page::default());
    assert_eq!(
        Page::from_query(Some(-1), None).unwrap_err().to_string(),
        "skip: must be greater than or equal to 0"
    );
    for limit in [-5, 0, 501, i64::from(u32::MAX) + 1] {
        assert_eq!(
            Page::from_query(None, Some(limit)).unwrap_err().to_string(),
            "limit: must be between 1 and 500",
            "{limit}"
        );
    }
    assert_eq!(
        Page::from_query(Some(3), Some(7)).unwrap(),
        Page::new(3, 7).unwrap()
    );
}

#[test]
fn a_conversation_preview_is_the_first_hundred_characters() {
    let summary = |content: String| crate::ConversationSummary {
        conversation_id: ConversationId::parse("c").unwrap(),
        other_user_id: crate::UserId::new(2),
        other_user_name: None,
        last_message: MessageContent::parse(content).unwrap(),
        last_message_at: chrono::Utc::now(),
        unread_count: 0,
    };
    let long = summary("é".repeat(150));
    assert_eq!(long.preview(), "é".repeat(100));
    let short = summary("short".to_string());
    assert_eq!(short.preview(), "short");
}

#[test]
fn phone_numbers_are_e164_with_one_stored_form() {
    for (input, stored) in [
        ("+60123456789", "+60123456789"),
        ("+60 12-345 6789", "+60123456789"),
        (" +1 (415) 555.2671 ", "+14155552671"),
        ("+123456789012345", "+123456789012345"),
        ("+12", "+12"),
    ] {
        assert_eq!(
            PhoneNumber::parse(input).unwrap().as_str(),
            stored,
            "{input}"
        );
    }
    for refused in [
        "",
        "+",
        "60123456789",
        "+0123456789",
        "+1234567890123456",
        "+1",
        "+60 12x345",
        "++60123",
        "+６０１２３", // full-width digits
        "+60\u{0}1234",
        "+60\n1234",
    ] {
        let error = PhoneNumber::parse(refused).unwrap_err();
        assert_eq!(error.field, "phone_number", "{refused:?}");
    }
}

#[test]
fn national_spellings_are_read_in_the_default_region_and_stored_in_e164() {
    let malaysia = PhoneRules::new(Some(PhoneRegion::parse("my").unwrap()));
    for (input, stored) in [
        ("012-7903 8038", "+601279038038"),
        ("012-345 6789", "+60123456789"),
        ("0123456789", "+60123456789"),
        ("00 60 12-345 6789", "+60123456789"),
        // International numbers keep today's rule, valid in a plan or not.
        ("+60 12-345 6789", "+60123456789"),
        ("+15551234567", "+15551234567"),
    ] {
        assert_eq!(malaysia.parse(input).unwrap().as_str(), stored, "{input}");
    }
    for refused in ["12", "abc", "012-34", "0123456789012345678", "", "+0123"] {
        let error = malaysia.parse(refused).unwrap_err();
        assert_eq!(error.field, "phone_number", "{refused:?}");
    }
    let reason = malaysia.parse("12").unwrap_err().rule;
    assert!(
        reason.contains("MY"),
        "the refusal names the region: {reason}"
    );
}

#[test]
fn without_a_default_region_only_international_numbers_are_accepted() {
    let rules = PhoneRules::default();
    assert_eq!(
        rules.parse("+60 12-345 6789").unwrap().as_str(),
        "+60123456789"
    );
    let error = rules.parse("012-7903 8038").unwrap_err();
    assert!(error.rule.contains("E.164"), "{}", error.rule);
}

#[test]
fn a_default_region_must_name_a_numbering_plan() {
    assert!(PhoneRegion::parse("MY").is_some());
    assert!(PhoneRegion::parse(" gb ").is_some());
    for unknown in ["", "XX", "Malaysia", "60"] {
        assert!(PhoneRegion::parse(unknown).is_none(), "{unknown:?}");
    }
    assert_eq!(PhoneRegion::parse("my").unwrap().to_string(), "MY");
}
