use super::*;
use crate::domain::{Email, Password, PasswordHash, Username};
use crate::ports::InsertError;
use crate::usecases::test_support::*;
use mockall::predicate::{always, eq};

fn admin(mocks: Mocks) -> Admin {
    Admin::new(&mocks.into_ports())
}

fn registration() -> Registration {
    Registration {
        username: Username::parse("root").unwrap(),
        email: Email::parse("root@example.com").unwrap(),
        password: Password::parse("rootroot").unwrap(),
        full_name: None,
        phone_number: None,
    }
}

fn expect_free_username_and_email(mocks: &mut Mocks) {
    mocks
        .users
        .expect_find_user_by_username()
        .returning(|_| Ok(None));
    mocks
        .users
        .expect_find_user_by_email()
        .returning(|_| Ok(None));
    mocks
        .hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("h")));
}

#[tokio::test]
async fn every_admin_operation_requires_a_superuser() {
    let mut mocks = Mocks::new();
    mocks.users.expect_list_users().never();
    mocks.users.expect_get_user().never();
    mocks.users.expect_create_user().never();
    mocks.users.expect_delete_user().never();
    mocks.users.expect_set_user_active().never();
    mocks.users.expect_set_user_superuser().never();
    let admin = admin(mocks);
    let plain = caller(1);
    let results = [
        admin
            .list_users(&plain, Page::default())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        admin
            .get_user(&plain, uid(2))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        admin
            .create_user(&plain, registration())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        admin
            .delete_user(&plain, uid(2))
            .await
            .map_err(|e| e.to_string()),
        admin
            .disable_user(&plain, uid(2))
            .await
            .map_err(|e| e.to_string()),
        admin
            .enable_user(&plain, uid(2))
            .await
            .map_err(|e| e.to_string()),
        admin
            .set_superuser(&plain, uid(2), true)
            .await
            .map_err(|e| e.to_string()),
    ];
    for result in results {
        assert_eq!(result.unwrap_err(), "the caller is not a superuser");
    }
}

#[tokio::test]
async fn list_users_passes_the_page() {
    let mut mocks = Mocks::new();
    let page = Page::new(5, 10).unwrap();
    mocks
        .users
        .expect_list_users()
        .with(eq(page))
        .returning(|_| Ok(vec![sample_user(6)]));
    let users = admin(mocks)
        .list_users(&super_caller(1), page)
        .await
        .unwrap();
    assert_eq!(users[0].id, uid(6));
}

#[tokio::test]
async fn get_unknown_user_is_not_found() {
    let mut mocks = Mocks::new();
    mocks.users.expect_get_user().returning(|_| Ok(None));
    let err = admin(mocks)
        .get_user(&super_caller(1), uid(9))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no such user");
}

#[tokio::test]
async fn create_user_makes_an_ordinary_user() {
    let mut mocks = Mocks::new();
    expect_free_username_and_email(&mut mocks);
    mocks
        .users
        .expect_create_user()
        .withf(|new| !new.is_superuser)
        .returning(|new| Ok(user_from(2, &new)));
    let user = admin(mocks)
        .create_user(&super_caller(1), registration())
        .await
        .unwrap();
    assert!(!user.is_superuser);
}

#[tokio::test]
async fn create_user_reports_registration_conflicts() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_username()
        .returning(|_| Ok(Some(sample_user(2))));
    let err = admin(mocks)
        .create_user(&super_caller(1), registration())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "the username is taken");
}

#[tokio::test]
async fn create_superuser_makes_a_superuser() {
    let mut mocks = Mocks::new();
    expect_free_username_and_email(&mut mocks);
    mocks
        .users
        .expect_create_user()
        .withf(|new| new.is_superuser)
        .times(1)
        .returning(|new| Ok(user_from(1, &new)));
    let user = admin(mocks).create_superuser(registration()).await.unwrap();
    assert!(user.is_superuser);
}

#[tokio::test]
async fn ensure_superuser_leaves_an_existing_username_alone() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_username()
        .returning(|_| Ok(Some(sample_user(1))));
    mocks.users.expect_create_user().never();
    let created = admin(mocks).ensure_superuser(registration()).await.unwrap();
    assert!(created.is_none());
}

#[tokio::test]
async fn ensure_superuser_creates_a_missing_one_and_reports_other_conflicts() {
    let mut mocks = Mocks::new();
    expect_free_username_and_email(&mut mocks);
    mocks
        .users
        .expect_create_user()
        .returning(|new| Ok(user_from(1, &new)));
    let created = admin(mocks).ensure_superuser(registration()).await.unwrap();
    assert!(created.unwrap().is_superuser);

    let mut mocks = Mocks::new();
    expect_free_username_and_email(&mut mocks);
    mocks
        .users
        .expect_create_user()
        .returning(|_| Err(InsertError::Duplicate));
    let err = admin(mocks)
        .ensure_superuser(registration())
        .await
        .unwrap_err();
    assert!(matches!(err, RegisterError::UsernameOrEmailTaken));
}

#[tokio::test]
async fn a_superuser_cannot_delete_disable_or_demote_themself() {
    let mut mocks = Mocks::new();
    mocks.users.expect_delete_user().never();
    mocks.users.expect_set_user_active().never();
    mocks.users.expect_set_user_superuser().never();
    let admin = admin(mocks);
    let me = super_caller(1);
    assert_eq!(
        admin
            .delete_user(&me, uid(1))
            .await
            .unwrap_err()
            .to_string(),
        "a superuser may not delete their own account"
    );
    assert_eq!(
        admin
            .disable_user(&me, uid(1))
            .await
            .unwrap_err()
            .to_string(),
        "a superuser may not disable their own account"
    );
    assert_eq!(
        admin
            .set_superuser(&me, uid(1), false)
            .await
            .unwrap_err()
            .to_string(),
        "a superuser may not change the superuser status of their own account"
    );
}

#[tokio::test]
async fn delete_user_removes_another_user() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_delete_user()
        .with(eq(uid(2)))
        .times(1)
        .returning(|_| Ok(AccountChange::Changed));
    admin(mocks)
        .delete_user(&super_caller(1), uid(2))
        .await
        .unwrap();
}

#[tokio::test]
async fn disable_enable_and_superuser_change_the_target() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_set_user_active()
        .with(eq(uid(2)), eq(false), always())
        .times(1)
        .returning(|_, _, _| Ok(AccountChange::Changed));
    mocks
        .users
        .expect_set_user_active()
        .with(eq(uid(2)), eq(true), always())
        .times(1)
        .returning(|_, _, _| Ok(AccountChange::Changed));
    mocks
        .users
        .expect_set_user_superuser()
        .with(eq(uid(2)), eq(true), always())
        .times(1)
        .returning(|_, _, _| Ok(AccountChange::Changed));
    let admin = admin(mocks);
    let me = super_caller(1);
    admin.disable_user(&me, uid(2)).await.unwrap();
    admin.enable_user(&me, uid(2)).await.unwrap();
    admin.set_superuser(&me, uid(2), true).await.unwrap();
}

#[tokio::test]
async fn a_change_storage_refuses_as_the_last_superuser_is_reported() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_delete_user()
        .returning(|_| Ok(AccountChange::LastSuperuser));
    mocks
        .users
        .expect_set_user_active()
        .returning(|_, _, _| Ok(AccountChange::LastSuperuser));
    mocks
        .users
        .expect_set_user_superuser()
        .returning(|_, _, _| Ok(AccountChange::LastSuperuser));
    let admin = admin(mocks);
    let me = super_caller(1);
    for result in [
        admin.delete_user(&me, uid(2)).await,
        admin.disable_user(&me, uid(2)).await,
        admin.set_superuser(&me, uid(2), false).await,
    ] {
        assert!(
            matches!(result, Err(AccountActionError::LastSuperuser)),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn operations_on_an_unknown_user_are_not_found() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_delete_user()
        .returning(|_| Ok(AccountChange::UserNotFound));
    mocks
        .users
        .expect_set_user_active()
        .returning(|_, _, _| Ok(AccountChange::UserNotFound));
    mocks
        .users
        .expect_set_user_superuser()
        .returning(|_, _, _| Ok(AccountChange::UserNotFound));
    let admin = admin(mocks);
    let me = super_caller(1);
    for result in [
        admin.delete_user(&me, uid(9)).await,
        admin.disable_user(&me, uid(9)).await,
        admin.enable_user(&me, uid(9)).await,
        admin.set_superuser(&me, uid(9), true).await,
    ] {
        assert!(matches!(
            result.unwrap_err(),
            AccountActionError::UserNotFound
        ));
    }
}

/// One backup at a time, and a superuser's: a second turn is refused while the first is
/// held, and given once it is dropped.
#[test]
fn backups_take_turns_one_at_a_time() {
    let admin = admin(Mocks::new());
    assert!(matches!(
        admin.backup_turn(&caller(1)),
        Err(BackupError::NotSuperuser)
    ));
    let first = admin.backup_turn(&super_caller(1)).unwrap();
    let other_handle = admin.clone();
    assert!(matches!(
        other_handle.backup_turn(&super_caller(2)),
        Err(BackupError::UnderWay)
    ));
    drop(first);
    assert!(other_handle.backup_turn(&super_caller(2)).is_ok());
}
