/* Token keys through raw libp11. See cbaseline.h. */
#include "cbaseline.h"

#include <string.h>

#include <libp11.h>

struct cb_token {
  PKCS11_CTX *context;
  PKCS11_SLOT *slots;
  unsigned int slot_count;
};

cb_token *cb_token_open(const char *module, const char *label, const char *pin) {
  cb_token *token = OPENSSL_zalloc(sizeof *token);
  if (token == NULL) return NULL;
  token->context = PKCS11_CTX_new();
  if (token->context == NULL || PKCS11_CTX_load(token->context, module) != 0) goto fail;
  if (PKCS11_enumerate_slots(token->context, &token->slots, &token->slot_count) != 0) goto fail;
  for (unsigned int i = 0; i < token->slot_count; i++) {
    PKCS11_SLOT *slot = &token->slots[i];
    if (slot->token == NULL || !slot->token->initialized || strcmp(slot->token->label, label) != 0) continue;
    int logged_in = 0;
    if (PKCS11_is_logged_in(slot, 0, &logged_in) == 0 && logged_in) return token;
    if (PKCS11_login(slot, 0, pin) == 0) return token;
    goto fail;
  }
fail:
  cb_token_close(token);
  return NULL;
}

void *cb_token_private_key(cb_token *token, const char *label) {
  for (unsigned int i = 0; i < token->slot_count; i++) {
    PKCS11_SLOT *slot = &token->slots[i];
    if (slot->token == NULL || !slot->token->initialized) continue;
    PKCS11_KEY *keys = NULL;
    unsigned int count = 0;
    if (PKCS11_enumerate_keys(slot->token, &keys, &count) != 0) continue;
    for (unsigned int k = 0; k < count; k++) {
      if (keys[k].isPrivate && keys[k].label != NULL && strcmp(keys[k].label, label) == 0) {
        return PKCS11_get_private_key(&keys[k]);
      }
    }
  }
  return NULL;
}

void cb_token_close(cb_token *token) {
  if (token == NULL) return;
  /* The context stays loaded: unloading finalizes the module (C_Finalize), which would log out
   * every other user of it in this process, our own PKCS11Keys among them. */
  OPENSSL_free(token);
}
