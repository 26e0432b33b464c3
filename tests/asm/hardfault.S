/*
 * hardfault.S: the precise bus error of busfault.S with BusFault disabled (its reset
 * state): it escalates to HardFault, and HardFault_Handler finds HFSR.FORCED set with
 * the BusFault status in CFSR and BFAR. Exit codes and `fault_results` as busfault.S.
 */
#define ESCALATE 1
#include "busfault.S"
