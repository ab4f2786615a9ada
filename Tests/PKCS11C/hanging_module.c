/*
 * A PKCS#11 module that never answers: every function of its function list blocks forever. The
 * provider backend's time limit is tested with it (PKCS11ProviderBackendTests): pkcs11-provider
 * calls C_Initialize and never gets an answer, as with the SoftHSM2 deadlocks of pkcs11-provider
 * #723. Built by the test with `cc -shared -fPIC`.
 */
#include <unistd.h>

typedef unsigned long CK_RV;

/* CK_FUNCTION_LIST: a CK_VERSION, then the function pointers (68 in PKCS#11 2.40). */
struct function_list {
    unsigned char major;
    unsigned char minor;
    CK_RV (*functions[68])(void);
};

static CK_RV never_returns(void)
{
    for (;;)
        pause();
    return 0;
}

static struct function_list list;

CK_RV C_GetFunctionList(struct function_list **out)
{
    list.major = 2;
    list.minor = 40;
    for (int i = 0; i < 68; i++)
        list.functions[i] = never_returns;
    *out = &list;
    return 0;
}
