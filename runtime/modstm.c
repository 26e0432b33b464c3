// pybsim runtime: the stm module, raw access to the STM32F405 registers.
//
// Constant names follow the real Pyboard's stm module: peripheral base
// addresses (GPIOA, RCC, TIM2, USART6, ...) and register offsets prefixed
// with the peripheral kind (GPIO_ODR, RCC_AHB1ENR, TIM_CNT, USART_DR, ...).

#include "py/runtime.h"
#include "py/objint.h"
#include "py/mpz.h"
#include "extmod/modmachine.h"
#include "stm32f405.h"

// Addresses at and above 0x40000000 do not fit a small int: they are
// constant big integers (16-bit mpz digits).
#define MPZ_CONST(name, value) \
    static const mp_obj_int_t stm_const_##name = { \
        {&mp_type_int}, \
        {.neg = 0, .fixed_dig = 1, .alloc = 2, .len = 2, \
         .dig = (mpz_dig_t *)(const mpz_dig_t[]) {(value) & 0xffff, (value) >> 16}} \
    }
#define BIG(name) { MP_ROM_QSTR(MP_QSTR_##name), MP_ROM_PTR(&stm_const_##name) }

MPZ_CONST(PERIPH, 0x40000000);
MPZ_CONST(APB1PERIPH, 0x40000000);
MPZ_CONST(APB2PERIPH, 0x40010000);
MPZ_CONST(AHB1PERIPH, 0x40020000);
MPZ_CONST(AHB2PERIPH, 0x50000000);
MPZ_CONST(TIM2, TIM2_BASE);
MPZ_CONST(TIM3, TIM3_BASE);
MPZ_CONST(TIM4, TIM4_BASE);
MPZ_CONST(TIM5, TIM5_BASE);
MPZ_CONST(TIM6, TIM6_BASE);
MPZ_CONST(TIM7, TIM7_BASE);
MPZ_CONST(TIM12, TIM12_BASE);
MPZ_CONST(TIM13, TIM13_BASE);
MPZ_CONST(TIM14, TIM14_BASE);
MPZ_CONST(RTC, RTC_BASE);
MPZ_CONST(WWDG, WWDG_BASE);
MPZ_CONST(IWDG, IWDG_BASE);
MPZ_CONST(SPI2, SPI2_BASE);
MPZ_CONST(SPI3, SPI3_BASE);
MPZ_CONST(USART2, USART2_BASE);
MPZ_CONST(USART3, USART3_BASE);
MPZ_CONST(UART4, UART4_BASE);
MPZ_CONST(UART5, UART5_BASE);
MPZ_CONST(I2C1, I2C1_BASE);
MPZ_CONST(I2C2, I2C2_BASE);
MPZ_CONST(I2C3, I2C3_BASE);
MPZ_CONST(CAN1, CAN1_BASE);
MPZ_CONST(CAN2, CAN2_BASE);
MPZ_CONST(PWR, PWR_BASE);
MPZ_CONST(DAC, DAC_BASE);
MPZ_CONST(DAC1, DAC_BASE);
MPZ_CONST(TIM1, TIM1_BASE);
MPZ_CONST(TIM8, TIM8_BASE);
MPZ_CONST(USART1, USART1_BASE);
MPZ_CONST(USART6, USART6_BASE);
MPZ_CONST(ADC1, ADC1_BASE);
MPZ_CONST(ADC2, ADC2_BASE);
MPZ_CONST(ADC3, ADC3_BASE);
MPZ_CONST(ADC, ADC_BASE);
MPZ_CONST(ADC123_COMMON, ADC_BASE);
MPZ_CONST(SDIO, SDIO_BASE);
MPZ_CONST(SPI1, SPI1_BASE);
MPZ_CONST(SYSCFG, SYSCFG_BASE);
MPZ_CONST(EXTI, EXTI_BASE);
MPZ_CONST(TIM9, TIM9_BASE);
MPZ_CONST(TIM10, TIM10_BASE);
MPZ_CONST(TIM11, TIM11_BASE);
MPZ_CONST(GPIOA, GPIOA_BASE);
MPZ_CONST(GPIOB, GPIOB_BASE);
MPZ_CONST(GPIOC, GPIOC_BASE);
MPZ_CONST(GPIOD, GPIOD_BASE);
MPZ_CONST(GPIOE, GPIOE_BASE);
MPZ_CONST(GPIOF, GPIOF_BASE);
MPZ_CONST(GPIOG, GPIOG_BASE);
MPZ_CONST(GPIOH, GPIOH_BASE);
MPZ_CONST(GPIOI, GPIOI_BASE);
MPZ_CONST(CRC, CRC_BASE);
MPZ_CONST(RCC, RCC_BASE);
MPZ_CONST(FLASH_R, FLASH_R_BASE);
MPZ_CONST(DMA1, DMA1_BASE);
MPZ_CONST(DMA2, DMA2_BASE);
MPZ_CONST(RNG, RNG_BASE);

#define C(name, value) { MP_ROM_QSTR(MP_QSTR_##name), MP_ROM_INT(value) }

static const mp_rom_map_elem_t stm_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_stm) },

    { MP_ROM_QSTR(MP_QSTR_mem8), MP_ROM_PTR(&machine_mem8_obj) },
    { MP_ROM_QSTR(MP_QSTR_mem16), MP_ROM_PTR(&machine_mem16_obj) },
    { MP_ROM_QSTR(MP_QSTR_mem32), MP_ROM_PTR(&machine_mem32_obj) },

    // Memory regions and peripheral base addresses
    C(FLASH, FLASH_BASE),
    C(CCMDATARAM, CCMRAM_BASE),
    C(SRAM1, SRAM_BASE),
    C(SRAM2, 0x2001c000),
    BIG(PERIPH),
    BIG(APB1PERIPH),
    BIG(APB2PERIPH),
    BIG(AHB1PERIPH),
    BIG(AHB2PERIPH),
    BIG(TIM2),
    BIG(TIM3),
    BIG(TIM4),
    BIG(TIM5),
    BIG(TIM6),
    BIG(TIM7),
    BIG(TIM12),
    BIG(TIM13),
    BIG(TIM14),
    BIG(RTC),
    BIG(WWDG),
    BIG(IWDG),
    BIG(SPI2),
    BIG(SPI3),
    BIG(USART2),
    BIG(USART3),
    BIG(UART4),
    BIG(UART5),
    BIG(I2C1),
    BIG(I2C2),
    BIG(I2C3),
    BIG(CAN1),
    BIG(CAN2),
    BIG(PWR),
    BIG(DAC),
    BIG(DAC1),
    BIG(TIM1),
    BIG(TIM8),
    BIG(USART1),
    BIG(USART6),
    BIG(ADC1),
    BIG(ADC2),
    BIG(ADC3),
    BIG(ADC),
    BIG(ADC123_COMMON),
    BIG(SDIO),
    BIG(SPI1),
    BIG(SYSCFG),
    BIG(EXTI),
    BIG(TIM9),
    BIG(TIM10),
    BIG(TIM11),
    BIG(GPIOA),
    BIG(GPIOB),
    BIG(GPIOC),
    BIG(GPIOD),
    BIG(GPIOE),
    BIG(GPIOF),
    BIG(GPIOG),
    BIG(GPIOH),
    BIG(GPIOI),
    BIG(CRC),
    BIG(RCC),
    BIG(FLASH_R),
    BIG(DMA1),
    BIG(DMA2),
    BIG(RNG),

    // GPIO registers
    C(GPIO_MODER, 0x00),
    C(GPIO_OTYPER, 0x04),
    C(GPIO_OSPEEDR, 0x08),
    C(GPIO_PUPDR, 0x0c),
    C(GPIO_IDR, 0x10),
    C(GPIO_ODR, 0x14),
    C(GPIO_BSRR, 0x18),
    C(GPIO_BSRRL, 0x18),
    C(GPIO_BSRRH, 0x1a),
    C(GPIO_LCKR, 0x1c),
    C(GPIO_AFR0, 0x20),
    C(GPIO_AFR1, 0x24),

    // RCC registers
    C(RCC_CR, 0x00),
    C(RCC_PLLCFGR, 0x04),
    C(RCC_CFGR, 0x08),
    C(RCC_CIR, 0x0c),
    C(RCC_AHB1RSTR, 0x10),
    C(RCC_AHB2RSTR, 0x14),
    C(RCC_AHB3RSTR, 0x18),
    C(RCC_APB1RSTR, 0x20),
    C(RCC_APB2RSTR, 0x24),
    C(RCC_AHB1ENR, 0x30),
    C(RCC_AHB2ENR, 0x34),
    C(RCC_AHB3ENR, 0x38),
    C(RCC_APB1ENR, 0x40),
    C(RCC_APB2ENR, 0x44),
    C(RCC_AHB1LPENR, 0x50),
    C(RCC_AHB2LPENR, 0x54),
    C(RCC_AHB3LPENR, 0x58),
    C(RCC_APB1LPENR, 0x60),
    C(RCC_APB2LPENR, 0x64),
    C(RCC_BDCR, 0x70),
    C(RCC_CSR, 0x74),
    C(RCC_SSCGR, 0x80),
    C(RCC_PLLI2SCFGR, 0x84),

    // Timer registers
    C(TIM_CR1, 0x00),
    C(TIM_CR2, 0x04),
    C(TIM_SMCR, 0x08),
    C(TIM_DIER, 0x0c),
    C(TIM_SR, 0x10),
    C(TIM_EGR, 0x14),
    C(TIM_CCMR1, 0x18),
    C(TIM_CCMR2, 0x1c),
    C(TIM_CCER, 0x20),
    C(TIM_CNT, 0x24),
    C(TIM_PSC, 0x28),
    C(TIM_ARR, 0x2c),
    C(TIM_RCR, 0x30),
    C(TIM_CCR1, 0x34),
    C(TIM_CCR2, 0x38),
    C(TIM_CCR3, 0x3c),
    C(TIM_CCR4, 0x40),
    C(TIM_BDTR, 0x44),
    C(TIM_DCR, 0x48),
    C(TIM_DMAR, 0x4c),
    C(TIM_OR, 0x50),

    // USART registers
    C(USART_SR, 0x00),
    C(USART_DR, 0x04),
    C(USART_BRR, 0x08),
    C(USART_CR1, 0x0c),
    C(USART_CR2, 0x10),
    C(USART_CR3, 0x14),
    C(USART_GTPR, 0x18),

    // FLASH interface registers
    C(FLASH_ACR, 0x00),
    C(FLASH_KEYR, 0x04),
    C(FLASH_OPTKEYR, 0x08),
    C(FLASH_SR, 0x0c),
    C(FLASH_CR, 0x10),
    C(FLASH_OPTCR, 0x14),

    // PWR registers
    C(PWR_CR, 0x00),
    C(PWR_CSR, 0x04),

    // EXTI registers
    C(EXTI_IMR, 0x00),
    C(EXTI_EMR, 0x04),
    C(EXTI_RTSR, 0x08),
    C(EXTI_FTSR, 0x0c),
    C(EXTI_SWIER, 0x10),
    C(EXTI_PR, 0x14),

    // SYSCFG registers
    C(SYSCFG_MEMRMP, 0x00),
    C(SYSCFG_PMC, 0x04),
    C(SYSCFG_EXTICR0, 0x08),
    C(SYSCFG_EXTICR1, 0x0c),
    C(SYSCFG_EXTICR2, 0x10),
    C(SYSCFG_EXTICR3, 0x14),
    C(SYSCFG_CMPCR, 0x20),
};

static MP_DEFINE_CONST_DICT(stm_module_globals, stm_module_globals_table);

const mp_obj_module_t stm_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&stm_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR_stm, stm_module);
