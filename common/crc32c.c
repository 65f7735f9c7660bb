// SPDX-License-Identifier: Apache-2.0
#include "common/crc32c.h"

#include <isa-l/crc.h>

uint32_t
sl_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* ISA-L's crc32_iscsi neither pre- nor post-inverts; the standard CRC-32C does both. */
	return ~crc32_iscsi((unsigned char *)buf, (int)len, ~crc);
}
