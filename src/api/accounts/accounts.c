/*
 * accounts.c - the route table of the accounts surface: reading it tells the
 * whole surface.
 *
 * Rate limits (document 001, "Rate Limits"): login 5/min per IP, register
 * 3/hour per IP, password reset 3/hour per email, and "profile updates"
 * 10/min per user - every write to what the user owns (profile, avatar,
 * preferences, addresses) and the two writes that check a password
 * (change-password, deactivate), which also caps password guessing with a
 * stolen access token. Routes of an unverified user's account answer 403
 * EMAIL_NOT_VERIFIED (ROUTE_VERIFIED), as login refuses such users; logout
 * and the resend of the verification email stay open to them.
 */
#include "api/accounts/accounts.h"

#define SIGNED_IN (ROUTE_AUTH | ROUTE_VERIFIED)
#define PROFILE_LIMIT "accounts-profile"

static const struct route accounts_routes[] = {
    /* Authentication */
    {"POST", "login/", accounts_login, ROUTE_SLOW | ROUTE_NO_AUTH, "accounts-login"},
    {"POST", "register/", accounts_register, ROUTE_SLOW | ROUTE_NO_AUTH, "accounts-register"},
    {"POST", "token/refresh/", accounts_token_refresh, ROUTE_NO_AUTH, NULL},
    {"POST", "logout/", accounts_logout, ROUTE_AUTH, NULL},

    /* User profile */
    {"GET", "profile/", accounts_profile_get, SIGNED_IN, NULL},
    {"PUT", "profile/", accounts_profile_put, SIGNED_IN, PROFILE_LIMIT},
    {"POST", "profile/avatar/", accounts_profile_avatar, SIGNED_IN | ROUTE_UPLOAD, PROFILE_LIMIT},

    /* Address management */
    {"GET", "addresses/", accounts_address_list, SIGNED_IN, NULL},
    {"POST", "addresses/", accounts_address_create, SIGNED_IN, PROFILE_LIMIT},
    {"GET", "addresses/<int:id>/", accounts_address_get, SIGNED_IN, NULL},
    {"PUT", "addresses/<int:id>/", accounts_address_put, SIGNED_IN, PROFILE_LIMIT},
    {"PATCH", "addresses/<int:id>/", accounts_address_patch, SIGNED_IN, PROFILE_LIMIT},
    {"DELETE", "addresses/<int:id>/", accounts_address_delete, SIGNED_IN, PROFILE_LIMIT},

    /* Password management */
    {"POST", "change-password/", accounts_change_password, SIGNED_IN | ROUTE_SLOW, PROFILE_LIMIT},
    {"POST", "password-reset/", accounts_password_reset, ROUTE_NO_AUTH, "accounts-password-reset"},
    {"POST", "password-reset/confirm/", accounts_password_reset_confirm,
     ROUTE_SLOW | ROUTE_NO_AUTH, NULL},

    /* Email verification: resend takes the signed-in user (a verification
     * token works too) or, anonymously, {"email"}. */
    {"POST", "verify-email/resend/", accounts_verify_email_resend, ROUTE_VERIFICATION,
     "accounts-verify-resend"},
    {"POST", "verify-email/confirm/", accounts_verify_email_confirm, ROUTE_NO_AUTH, NULL},

    /* Account settings */
    {"GET", "email-preferences/", accounts_preferences_get, SIGNED_IN, NULL},
    {"PUT", "email-preferences/", accounts_preferences_put, SIGNED_IN, PROFILE_LIMIT},
    {"PATCH", "email-preferences/", accounts_preferences_put, SIGNED_IN, PROFILE_LIMIT},
    {"POST", "deactivate/", accounts_deactivate, SIGNED_IN | ROUTE_SLOW, PROFILE_LIMIT},
};

const struct http_surface accounts_surface = {
    .name = "accounts",
    .mount = "/api/accounts/",
    .routes = accounts_routes,
    .n_routes = sizeof(accounts_routes) / sizeof(accounts_routes[0]),
    .render_auth_failure = accounts_render_auth_failure,
    .render_error = accounts_render_error,
};
