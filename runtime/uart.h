// pybsim runtime: USART1..6 (pyb.UART / machine.UART).

#ifndef PYBSIM_UART_H
#define PYBSIM_UART_H

#include <stddef.h>
#include "py/obj.h"

extern const mp_obj_type_t pyb_uart_type;

void uart_init0(void);
void uart_deinit_all(void);

// pyb.repl_uart support for the stdio layer.
int pyb_uart_repl_rx_any(void);
int pyb_uart_repl_rx_chr(void);
void pyb_uart_repl_tx_strn(const char *str, size_t len);
mp_obj_t pyb_uart_repl_get(void);
void pyb_uart_repl_set(mp_obj_t uart);

#endif // PYBSIM_UART_H
