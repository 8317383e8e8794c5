/* A test NSS module that answers lookups but does not enumerate, as sssd does by default
 * (enumerate = false) and winbind does: getpwuid(200005) and getgrgid(200007) find an account
 * and a group that `getent passwd` and `getent group` never list. Built and loaded only by
 * tests/integration/test_nss_accounts.py, in a private mount namespace. */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <string.h>

#define USER_NAME "nonenum-user"
#define USER_ID 200005
#define GROUP_NAME "nonenum-group"
#define GROUP_ID 200007

static char *copy(const char *text, char **buffer, size_t *left) {
    size_t size = strlen(text) + 1;
    if (size > *left) return NULL;
    char *start = *buffer;
    memcpy(start, text, size);
    *buffer += size;
    *left -= size;
    return start;
}

static enum nss_status fill_user(struct passwd *pw, char *buffer, size_t buflen, int *errnop) {
    pw->pw_uid = USER_ID;
    pw->pw_gid = USER_ID;
    if (!(pw->pw_name = copy(USER_NAME, &buffer, &buflen)) || !(pw->pw_passwd = copy("x", &buffer, &buflen))
        || !(pw->pw_gecos = copy("", &buffer, &buflen)) || !(pw->pw_dir = copy("/nonexistent", &buffer, &buflen))
        || !(pw->pw_shell = copy("/bin/false", &buffer, &buflen))) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    return NSS_STATUS_SUCCESS;
}

static enum nss_status fill_group(struct group *gr, char *buffer, size_t buflen, int *errnop) {
    gr->gr_gid = GROUP_ID;
    if (!(gr->gr_name = copy(GROUP_NAME, &buffer, &buflen)) || !(gr->gr_passwd = copy("x", &buffer, &buflen))
        || buflen < sizeof(char *)) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    size_t pad = (sizeof(char *) - ((size_t)buffer % sizeof(char *))) % sizeof(char *);
    if (buflen < pad + sizeof(char *)) {
        *errnop = ERANGE;
        return NSS_STATUS_TRYAGAIN;
    }
    gr->gr_mem = (char **)(buffer + pad);
    gr->gr_mem[0] = NULL;
    return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_nonenum_getpwuid_r(uid_t uid, struct passwd *pw, char *buffer, size_t buflen, int *errnop) {
    return uid == USER_ID ? fill_user(pw, buffer, buflen, errnop) : NSS_STATUS_NOTFOUND;
}

enum nss_status _nss_nonenum_getpwnam_r(const char *name, struct passwd *pw, char *buffer, size_t buflen, int *errnop) {
    return strcmp(name, USER_NAME) == 0 ? fill_user(pw, buffer, buflen, errnop) : NSS_STATUS_NOTFOUND;
}

enum nss_status _nss_nonenum_getgrgid_r(gid_t gid, struct group *gr, char *buffer, size_t buflen, int *errnop) {
    return gid == GROUP_ID ? fill_group(gr, buffer, buflen, errnop) : NSS_STATUS_NOTFOUND;
}

enum nss_status _nss_nonenum_getgrnam_r(const char *name, struct group *gr, char *buffer, size_t buflen, int *errnop) {
    return strcmp(name, GROUP_NAME) == 0 ? fill_group(gr, buffer, buflen, errnop) : NSS_STATUS_NOTFOUND;
}
