/*
 * A PKCS#11 module that forwards every call to a real one (SoftHSM2) and records each C_Login in a
 * file, so that tests count the logins our library makes (docs/SECURITY.md rows 77 and 79). Built
 * by the tests with cc, as a shared object:
 *
 *   cc -shared -fPIC -I/usr/include/p11-kit-1 -DREAL_MODULE='"/usr/lib/softhsm/libsofthsm2.so"'
 *      -DLOGIN_LOG='"/tmp/.../logins"' forwarding_module.c -o libforwarding.so -ldl
 *
 * Each C_Login appends "C_Login user=TYPE rv=RESULT" (never the PIN). The module also exports
 * forwarding_login_elsewhere(label, pin), which logs the token of that label in as the user
 * through the real module, the way other code in the same process would, without this library
 * knowing.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST forwarded;
static CK_FUNCTION_LIST_PTR real;

static CK_RV counting_login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG length)
{
    CK_RV rv = real->C_Login(session, user, pin, length);
    FILE *log = fopen(LOGIN_LOG, "a");
    if (log != NULL) {
        fprintf(log, "C_Login user=%lu rv=%lu\n", (unsigned long)user, (unsigned long)rv);
        fclose(log);
    }
    return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    if (list == NULL)
        return CKR_ARGUMENTS_BAD;
    if (real == NULL) {
        void *handle = dlopen(REAL_MODULE, RTLD_NOW | RTLD_LOCAL);
        if (handle == NULL)
            return CKR_GENERAL_ERROR;
        CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(handle, "C_GetFunctionList");
        CK_FUNCTION_LIST_PTR found = NULL;
        if (get == NULL || get(&found) != CKR_OK || found == NULL)
            return CKR_GENERAL_ERROR;
        real = found;
        forwarded = *real;
        forwarded.C_GetFunctionList = C_GetFunctionList;
        forwarded.C_Login = counting_login;
    }
    *list = &forwarded;
    return CKR_OK;
}

/* Other code's login: initialises the real module (CKR_CRYPTOKI_ALREADY_INITIALIZED is fine),
 * opens a session on the slot whose token has `label`, and logs in; the session stays open, and
 * with it the login. Not counted. Returns the CK_RV. */
CK_RV forwarding_login_elsewhere(const char *label, const char *pin)
{
    CK_FUNCTION_LIST_PTR list;
    CK_RV rv = C_GetFunctionList(&list);
    if (rv != CKR_OK)
        return rv;
    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = real->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        return rv;
    CK_SLOT_ID slots[16];
    CK_ULONG count = 16;
    rv = real->C_GetSlotList(CK_TRUE, slots, &count);
    if (rv != CKR_OK)
        return rv;
    CK_ULONG found = count;
    for (CK_ULONG i = 0; i < count && found == count; i++) {
        CK_TOKEN_INFO info;
        char padded[sizeof info.label];
        memset(padded, ' ', sizeof padded);
        memcpy(padded, label, strnlen(label, sizeof padded));
        if (real->C_GetTokenInfo(slots[i], &info) == CKR_OK && memcmp(info.label, padded, sizeof padded) == 0)
            found = i;
    }
    if (found == count)
        return CKR_TOKEN_NOT_PRESENT;
    CK_SESSION_HANDLE session;
    rv = real->C_OpenSession(slots[found], CKF_SERIAL_SESSION, NULL, NULL, &session);
    if (rv != CKR_OK)
        return rv;
    return real->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
}
