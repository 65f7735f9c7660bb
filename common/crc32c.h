/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32c.h: CRC-32C (Castagnoli), as RecordBatch v2 uses, through ISA-L's vectorised
 * crc32_iscsi. Pure function; any thread.
 */
#ifndef SL_COMMON_CRC32C_H
#define SL_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Continues a CRC-32C over buf. Start with crc = 0; the result of one call can be passed
 * as crc to the next to checksum discontiguous pieces. sl_crc32c(0, "123456789", 9) ==
 * 0xE3069283.
 */
uint32_t sl_crc32c(uint32_t crc, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
