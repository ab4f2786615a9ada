#ifndef OPENSSLOBJECTS_CLIBP11_SHIM_H
#define OPENSSLOBJECTS_CLIBP11_SHIM_H
#include <libp11.h>

/*
 * The few PKCS#11 declarations the login check calls the module with directly, since libp11
 * 0.4.12 hides what it needs: PKCS11_is_logged_in answers from a flag of its own (a login by other
 * code in the process is not seen) and PKCS11_login reports CKR_USER_ALREADY_LOGGED_IN as success,
 * whatever the PIN. These are the PKCS#11 v2.40 / 3.0 ABI every module exports (CK_ULONG is
 * unsigned long, structures unpacked on Unix, CK_FUNCTION_LIST in the standard's order), so no
 * pkcs11.h is needed: oo_ck_function_list declares the list up to C_Login and is only read
 * through a pointer to the module's own list.
 */
typedef unsigned long oo_ck_ulong;

typedef struct oo_ck_session_info {
    oo_ck_ulong slot_id;
    oo_ck_ulong state;
    oo_ck_ulong flags;
    oo_ck_ulong device_error;
} oo_ck_session_info;

typedef struct oo_ck_function_list {
    struct { unsigned char major, minor; } version;
    /* C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList, C_GetSlotList, C_GetSlotInfo,
     * C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN */
    void *before_open_session[12];
    oo_ck_ulong (*C_OpenSession)(oo_ck_ulong slot, oo_ck_ulong flags, void *application, void *notify,
                                 oo_ck_ulong *session);
    oo_ck_ulong (*C_CloseSession)(oo_ck_ulong session);
    void *C_CloseAllSessions;
    oo_ck_ulong (*C_GetSessionInfo)(oo_ck_ulong session, oo_ck_session_info *info);
    void *C_GetOperationState;
    void *C_SetOperationState;
    oo_ck_ulong (*C_Login)(oo_ck_ulong session, oo_ck_ulong user_type, const unsigned char *pin, oo_ck_ulong length);
} oo_ck_function_list;

enum {
    OO_CKF_SERIAL_SESSION = 4,
    OO_CKU_USER = 1,
    OO_CKS_RO_USER_FUNCTIONS = 1,
    OO_CKS_RW_USER_FUNCTIONS = 3,
    OO_CKS_RW_SO_FUNCTIONS = 4,
    OO_CKR_USER_ALREADY_LOGGED_IN = 0x100,
    OO_CKR_USER_ANOTHER_ALREADY_LOGGED_IN = 0x104,
};

/* The module's function list, from the C_GetFunctionList symbol; NULL if it gives none. */
static inline const oo_ck_function_list *oo_ck_function_list_of(void *get_function_list)
{
    typedef oo_ck_ulong (*getter)(const oo_ck_function_list **);
    const oo_ck_function_list *list = NULL;
    if (get_function_list == NULL || ((getter)get_function_list)(&list) != 0)
        return NULL;
    return list;
}

/* Opens a session of our own on `slot` (C_OpenSession) and reads its state (C_GetSessionInfo):
 * the login state of the whole process, whoever logged in. The session stays open in *session
 * (0 when none could be opened); the CK_RV of the first call that failed, or 0. */
static inline oo_ck_ulong oo_ck_open_and_read_state(const oo_ck_function_list *list, oo_ck_ulong slot,
                                                     oo_ck_ulong *session, oo_ck_ulong *state)
{
    *session = 0;
    *state = 0;
    oo_ck_ulong opened = 0;
    oo_ck_ulong rv = list->C_OpenSession(slot, OO_CKF_SERIAL_SESSION, NULL, NULL, &opened);
    if (rv != 0)
        return rv;
    *session = opened;
    oo_ck_session_info info = { 0, 0, 0, 0 };
    rv = list->C_GetSessionInfo(opened, &info);
    if (rv == 0)
        *state = info.state;
    return rv;
}
#endif
