/* Keeps libopenssl_objects.so loaded once loaded (see resident.c). */
#ifndef OPENSSLOBJECTS_RESIDENT_H
#define OPENSSLOBJECTS_RESIDENT_H

/* 1 when the object this code is linked into was marked never to be unloaded (RTLD_NODELETE). */
int oo_resident_library_is_pinned(void);

#endif
