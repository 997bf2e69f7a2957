/*
 * libvirt_floor URI: the least any libvirt client must do to inventory
 * interfaces: open the connection, list all domains, fetch every domain's
 * XML.  Prints "<domains> <xml bytes>".  Informational row in the scale
 * benchmark: at N=1000 K=4 on test:/// most of the time is the driver
 * parsing the node file inside virConnectOpen, which vifd pays too.
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet(void *opaque, virErrorPtr err) { (void)opaque; (void)err; }

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: libvirt_floor URI\n");
        return 2;
    }
    virSetErrorFunc(NULL, quiet);
    virConnectPtr c = virConnectOpenReadOnly(argv[1]);
    if (!c) {
        virErrorPtr e = virGetLastError();
        fprintf(stderr, "libvirt_floor: open %s: %s\n", argv[1], e && e->message ? e->message : "failed");
        return 1;
    }
    virDomainPtr *doms = NULL;
    int n = virConnectListAllDomains(c, &doms, 0);
    if (n < 0) {
        fprintf(stderr, "libvirt_floor: list domains failed\n");
        return 1;
    }
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        char *x = virDomainGetXMLDesc(doms[i], 0);
        if (!x) {
            fprintf(stderr, "libvirt_floor: XMLDesc failed\n");
            return 1;
        }
        bytes += strlen(x);
        free(x);
        virDomainFree(doms[i]);
    }
    free(doms);
    virConnectClose(c);
    printf("%d %zu\n", n, bytes);
    return 0;
}
