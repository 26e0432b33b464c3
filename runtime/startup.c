// pybsim runtime: reset handler, clock tree and the STM32F405 vector table.
//
// Everything here is placed in flash sector 0 (.isr_vector and .boot) by the
// linker script; the rest of the firmware starts at 0x08020000.

#include <stdint.h>

#include "stm32f405.h"

extern uint32_t _estack;
extern uint32_t _sidata, _sdata, _edata;
extern uint32_t _sbss, _ebss;
extern uint32_t _sccm_bss, _eccm_bss;

int main(void);
void pyb_fault_handler(uint32_t *sp, uint32_t lr, const char *name);

#define BOOT __attribute__((section(".boot"), used))

// Clock tree: HSE 12 MHz -> PLL (M=12, N=336, P=2, Q=7) -> SYSCLK 168 MHz,
// AHB /1 (168 MHz), APB1 /4 (42 MHz), APB2 /2 (84 MHz), USB/SDIO 48 MHz.
BOOT void pyb_clock_init(void) {
    // Start the external oscillator and wait until it is stable.
    RCC->CR |= RCC_CR_HSEON;
    while (!(RCC->CR & RCC_CR_HSERDY)) {
    }

    // Regulator voltage scale 1, needed for 168 MHz.
    RCC->APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC->APB1ENR;
    PWR->CR |= PWR_CR_VOS;

    // Bus prescalers before the switch, so no bus ever exceeds its limit.
    RCC->CFGR = (RCC->CFGR & ~(RCC_CFGR_HPRE_Msk | RCC_CFGR_PPRE1_Msk | RCC_CFGR_PPRE2_Msk))
        | RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2;

    // Main PLL from HSE; PLLP field 0 means divide by 2.
    RCC->CR &= ~RCC_CR_PLLON;
    RCC->PLLCFGR = (12u << RCC_PLLCFGR_PLLM_Pos)
        | (336u << RCC_PLLCFGR_PLLN_Pos)
        | (((2u >> 1) - 1u) << RCC_PLLCFGR_PLLP_Pos)
        | RCC_PLLCFGR_PLLSRC_HSE
        | (7u << RCC_PLLCFGR_PLLQ_Pos);
    RCC->CR |= RCC_CR_PLLON;
    while (!(RCC->CR & RCC_CR_PLLRDY)) {
    }

    // Flash: 5 wait states at 168 MHz / 3.3 V, prefetch and both caches
    // (reset the caches while they are off, then enable).
    FLASH->ACR = 5u;
    FLASH->ACR = 5u | FLASH_ACR_ICRST | FLASH_ACR_DCRST;
    FLASH->ACR = 5u | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    while ((FLASH->ACR & FLASH_ACR_LATENCY_Msk) != 5u) {
    }

    // Switch the system clock to the PLL.
    RCC->CFGR = (RCC->CFGR & ~RCC_CFGR_SW_Msk) | RCC_CFGR_SW_PLL;
    while ((RCC->CFGR & RCC_CFGR_SWS_Msk) != RCC_CFGR_SWS_PLL) {
    }
}

BOOT __attribute__((naked, noreturn)) void Reset_Handler(void) {
    __asm volatile (
        "ldr sp, =_estack\n"
        "b pyb_reset_c\n"
        );
}

BOOT __attribute__((noreturn)) void pyb_reset_c(void) {
    // FPU: full access to CP10 and CP11.
    SCB_CPACR |= (0xfu << 20);
    __asm volatile ("dsb\n isb" ::: "memory");

    // Vector table is at the start of flash (aliased at 0 on boot).
    SCB->VTOR = FLASH_BASE;
    SCB->CCR |= SCB_CCR_STKALIGN;

    // CCM data RAM clock (on at reset, made explicit).
    RCC->AHB1ENR |= RCC_AHB1ENR_CCMDATARAMEN;
    (void)RCC->AHB1ENR;

    // Initialised data from flash, zeroed bss in SRAM and CCM.
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    for (uint32_t *dst = &_sccm_bss; dst < &_eccm_bss;) {
        *dst++ = 0;
    }

    pyb_clock_init();

    main();
    for (;;) {
        __asm volatile ("wfi");
    }
}

// Fault handlers pass the exception stack frame to C.
#define FAULT_HANDLER(name) \
    BOOT __attribute__((naked)) void name(void) { \
        __asm volatile ( \
            "tst lr, #4\n" \
            "ite eq\n" \
            "mrseq r0, msp\n" \
            "mrsne r0, psp\n" \
            "mov r1, lr\n" \
            "ldr r2, =1f\n" \
            "b pyb_fault_handler\n" \
            ".pushsection .rodata.faultname\n" \
            "1: .asciz \"" #name "\"\n" \
            ".popsection\n" \
            ); \
    }

FAULT_HANDLER(NMI_Handler)
FAULT_HANDLER(HardFault_Handler)
FAULT_HANDLER(MemManage_Handler)
FAULT_HANDLER(BusFault_Handler)
FAULT_HANDLER(UsageFault_Handler)

BOOT void Default_Handler(void) {
    for (;;) {
    }
}

#define WEAK_DEFAULT __attribute__((weak, alias("Default_Handler")))

void SVC_Handler(void) WEAK_DEFAULT;
void DebugMon_Handler(void) WEAK_DEFAULT;
void PendSV_Handler(void) WEAK_DEFAULT;
void SysTick_Handler(void) WEAK_DEFAULT;

void EXTI0_IRQHandler(void) WEAK_DEFAULT;
void EXTI1_IRQHandler(void) WEAK_DEFAULT;
void EXTI2_IRQHandler(void) WEAK_DEFAULT;
void EXTI3_IRQHandler(void) WEAK_DEFAULT;
void EXTI4_IRQHandler(void) WEAK_DEFAULT;
void EXTI9_5_IRQHandler(void) WEAK_DEFAULT;
void EXTI15_10_IRQHandler(void) WEAK_DEFAULT;
void RTC_WKUP_IRQHandler(void) WEAK_DEFAULT;
void FLASH_IRQHandler(void) WEAK_DEFAULT;
void TIM1_BRK_TIM9_IRQHandler(void) WEAK_DEFAULT;
void TIM1_UP_TIM10_IRQHandler(void) WEAK_DEFAULT;
void TIM1_TRG_COM_TIM11_IRQHandler(void) WEAK_DEFAULT;
void TIM1_CC_IRQHandler(void) WEAK_DEFAULT;
void TIM2_IRQHandler(void) WEAK_DEFAULT;
void TIM3_IRQHandler(void) WEAK_DEFAULT;
void TIM4_IRQHandler(void) WEAK_DEFAULT;
void TIM5_IRQHandler(void) WEAK_DEFAULT;
void TIM6_DAC_IRQHandler(void) WEAK_DEFAULT;
void TIM7_IRQHandler(void) WEAK_DEFAULT;
void TIM8_BRK_TIM12_IRQHandler(void) WEAK_DEFAULT;
void TIM8_UP_TIM13_IRQHandler(void) WEAK_DEFAULT;
void TIM8_TRG_COM_TIM14_IRQHandler(void) WEAK_DEFAULT;
void TIM8_CC_IRQHandler(void) WEAK_DEFAULT;
void USART1_IRQHandler(void) WEAK_DEFAULT;
void USART2_IRQHandler(void) WEAK_DEFAULT;
void USART3_IRQHandler(void) WEAK_DEFAULT;
void UART4_IRQHandler(void) WEAK_DEFAULT;
void UART5_IRQHandler(void) WEAK_DEFAULT;
void USART6_IRQHandler(void) WEAK_DEFAULT;

typedef void (*vector_t)(void);

#define IRQ(n) [16 + (n)]

__attribute__((section(".isr_vector"), used))
const vector_t pyb_vector_table[16 + NUM_IRQs] = {
    [0] = (vector_t)&_estack,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [7 ... 10] = 0,
    [11] = SVC_Handler,
    [12] = DebugMon_Handler,
    [13] = 0,
    [14] = PendSV_Handler,
    [15] = SysTick_Handler,
    [16 ... 16 + NUM_IRQs - 1] = Default_Handler,
    IRQ(EXTI0_IRQn) = EXTI0_IRQHandler,
    IRQ(RTC_WKUP_IRQn) = RTC_WKUP_IRQHandler,
    IRQ(FLASH_IRQn) = FLASH_IRQHandler,
    IRQ(EXTI1_IRQn) = EXTI1_IRQHandler,
    IRQ(EXTI2_IRQn) = EXTI2_IRQHandler,
    IRQ(EXTI3_IRQn) = EXTI3_IRQHandler,
    IRQ(EXTI4_IRQn) = EXTI4_IRQHandler,
    IRQ(EXTI9_5_IRQn) = EXTI9_5_IRQHandler,
    IRQ(EXTI15_10_IRQn) = EXTI15_10_IRQHandler,
    IRQ(TIM1_BRK_TIM9_IRQn) = TIM1_BRK_TIM9_IRQHandler,
    IRQ(TIM1_UP_TIM10_IRQn) = TIM1_UP_TIM10_IRQHandler,
    IRQ(TIM1_TRG_COM_TIM11_IRQn) = TIM1_TRG_COM_TIM11_IRQHandler,
    IRQ(TIM1_CC_IRQn) = TIM1_CC_IRQHandler,
    IRQ(TIM2_IRQn) = TIM2_IRQHandler,
    IRQ(TIM3_IRQn) = TIM3_IRQHandler,
    IRQ(TIM4_IRQn) = TIM4_IRQHandler,
    IRQ(TIM5_IRQn) = TIM5_IRQHandler,
    IRQ(TIM6_DAC_IRQn) = TIM6_DAC_IRQHandler,
    IRQ(TIM7_IRQn) = TIM7_IRQHandler,
    IRQ(TIM8_BRK_TIM12_IRQn) = TIM8_BRK_TIM12_IRQHandler,
    IRQ(TIM8_UP_TIM13_IRQn) = TIM8_UP_TIM13_IRQHandler,
    IRQ(TIM8_TRG_COM_TIM14_IRQn) = TIM8_TRG_COM_TIM14_IRQHandler,
    IRQ(TIM8_CC_IRQn) = TIM8_CC_IRQHandler,
    IRQ(USART1_IRQn) = USART1_IRQHandler,
    IRQ(USART2_IRQn) = USART2_IRQHandler,
    IRQ(USART3_IRQn) = USART3_IRQHandler,
    IRQ(UART4_IRQn) = UART4_IRQHandler,
    IRQ(UART5_IRQn) = UART5_IRQHandler,
    IRQ(USART6_IRQn) = USART6_IRQHandler,
};
