// pybsim runtime: STM32F405 register map.
//
// Written from the reference manual RM0090 (register and bit names follow it)
// and the Cortex-M4 generic user guide. No vendor header is used.

#ifndef PYBSIM_STM32F405_H
#define PYBSIM_STM32F405_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(addr))

// ---------------------------------------------------------------------------
// Memory map

#define FLASH_BASE          (0x08000000u)
#define CCMRAM_BASE         (0x10000000u)
#define SRAM_BASE           (0x20000000u)
#define UID_BASE            (0x1fff7a10u)

#define TIM2_BASE           (0x40000000u)
#define TIM3_BASE           (0x40000400u)
#define TIM4_BASE           (0x40000800u)
#define TIM5_BASE           (0x40000c00u)
#define TIM6_BASE           (0x40001000u)
#define TIM7_BASE           (0x40001400u)
#define TIM12_BASE          (0x40001800u)
#define TIM13_BASE          (0x40001c00u)
#define TIM14_BASE          (0x40002000u)
#define RTC_BASE            (0x40002800u)
#define WWDG_BASE           (0x40002c00u)
#define IWDG_BASE           (0x40003000u)
#define SPI2_BASE           (0x40003800u)
#define SPI3_BASE           (0x40003c00u)
#define USART2_BASE         (0x40004400u)
#define USART3_BASE         (0x40004800u)
#define UART4_BASE          (0x40004c00u)
#define UART5_BASE          (0x40005000u)
#define I2C1_BASE           (0x40005400u)
#define I2C2_BASE           (0x40005800u)
#define I2C3_BASE           (0x40005c00u)
#define CAN1_BASE           (0x40006400u)
#define CAN2_BASE           (0x40006800u)
#define PWR_BASE            (0x40007000u)
#define DAC_BASE            (0x40007400u)
#define TIM1_BASE           (0x40010000u)
#define TIM8_BASE           (0x40010400u)
#define USART1_BASE         (0x40011000u)
#define USART6_BASE         (0x40011400u)
#define ADC1_BASE           (0x40012000u)
#define ADC2_BASE           (0x40012100u)
#define ADC3_BASE           (0x40012200u)
#define ADC_BASE            (0x40012300u)
#define SDIO_BASE           (0x40012c00u)
#define SPI1_BASE           (0x40013000u)
#define SYSCFG_BASE         (0x40013800u)
#define EXTI_BASE           (0x40013c00u)
#define TIM9_BASE           (0x40014000u)
#define TIM10_BASE          (0x40014400u)
#define TIM11_BASE          (0x40014800u)
#define GPIOA_BASE          (0x40020000u)
#define GPIOB_BASE          (0x40020400u)
#define GPIOC_BASE          (0x40020800u)
#define GPIOD_BASE          (0x40020c00u)
#define GPIOE_BASE          (0x40021000u)
#define GPIOF_BASE          (0x40021400u)
#define GPIOG_BASE          (0x40021800u)
#define GPIOH_BASE          (0x40021c00u)
#define GPIOI_BASE          (0x40022000u)
#define CRC_BASE            (0x40023000u)
#define RCC_BASE            (0x40023800u)
#define FLASH_R_BASE        (0x40023c00u)
#define DMA1_BASE           (0x40026000u)
#define DMA2_BASE           (0x40026400u)
#define RNG_BASE            (0x50060800u)

// pybsim console device (see docs/console.md), in reserved APB1 space.
#define PYBS_CONSOLE_BASE   (0x40008000u)

// ---------------------------------------------------------------------------
// Peripheral register blocks

typedef struct {
    volatile uint32_t CR;           // 0x00
    volatile uint32_t PLLCFGR;      // 0x04
    volatile uint32_t CFGR;         // 0x08
    volatile uint32_t CIR;          // 0x0c
    volatile uint32_t AHB1RSTR;     // 0x10
    volatile uint32_t AHB2RSTR;     // 0x14
    volatile uint32_t AHB3RSTR;     // 0x18
    uint32_t reserved0;             // 0x1c
    volatile uint32_t APB1RSTR;     // 0x20
    volatile uint32_t APB2RSTR;     // 0x24
    uint32_t reserved1[2];          // 0x28
    volatile uint32_t AHB1ENR;      // 0x30
    volatile uint32_t AHB2ENR;      // 0x34
    volatile uint32_t AHB3ENR;      // 0x38
    uint32_t reserved2;             // 0x3c
    volatile uint32_t APB1ENR;      // 0x40
    volatile uint32_t APB2ENR;      // 0x44
    uint32_t reserved3[2];          // 0x48
    volatile uint32_t AHB1LPENR;    // 0x50
    volatile uint32_t AHB2LPENR;    // 0x54
    volatile uint32_t AHB3LPENR;    // 0x58
    uint32_t reserved4;             // 0x5c
    volatile uint32_t APB1LPENR;    // 0x60
    volatile uint32_t APB2LPENR;    // 0x64
    uint32_t reserved5[2];          // 0x68
    volatile uint32_t BDCR;         // 0x70
    volatile uint32_t CSR;          // 0x74
    uint32_t reserved6[2];          // 0x78
    volatile uint32_t SSCGR;        // 0x80
    volatile uint32_t PLLI2SCFGR;   // 0x84
} rcc_regs_t;

#define RCC ((rcc_regs_t *)RCC_BASE)

#define RCC_CR_HSION            (1u << 0)
#define RCC_CR_HSIRDY           (1u << 1)
#define RCC_CR_HSEON            (1u << 16)
#define RCC_CR_HSERDY           (1u << 17)
#define RCC_CR_HSEBYP           (1u << 18)
#define RCC_CR_CSSON            (1u << 19)
#define RCC_CR_PLLON            (1u << 24)
#define RCC_CR_PLLRDY           (1u << 25)

#define RCC_PLLCFGR_PLLM_Pos    (0)
#define RCC_PLLCFGR_PLLN_Pos    (6)
#define RCC_PLLCFGR_PLLP_Pos    (16)
#define RCC_PLLCFGR_PLLSRC_HSE  (1u << 22)
#define RCC_PLLCFGR_PLLQ_Pos    (24)

#define RCC_CFGR_SW_Msk         (3u << 0)
#define RCC_CFGR_SW_HSI         (0u << 0)
#define RCC_CFGR_SW_HSE         (1u << 0)
#define RCC_CFGR_SW_PLL         (2u << 0)
#define RCC_CFGR_SWS_Msk        (3u << 2)
#define RCC_CFGR_SWS_PLL        (2u << 2)
#define RCC_CFGR_HPRE_Pos       (4)
#define RCC_CFGR_HPRE_Msk       (0xfu << 4)
#define RCC_CFGR_PPRE1_Pos      (10)
#define RCC_CFGR_PPRE1_Msk      (7u << 10)
#define RCC_CFGR_PPRE1_DIV4     (5u << 10)
#define RCC_CFGR_PPRE2_Pos      (13)
#define RCC_CFGR_PPRE2_Msk      (7u << 13)
#define RCC_CFGR_PPRE2_DIV2     (4u << 13)

#define RCC_AHB1ENR_GPIOAEN     (1u << 0)
#define RCC_AHB1ENR_CCMDATARAMEN (1u << 20)

#define RCC_APB1ENR_TIM2EN      (1u << 0)
#define RCC_APB1ENR_TIM3EN      (1u << 1)
#define RCC_APB1ENR_TIM4EN      (1u << 2)
#define RCC_APB1ENR_TIM5EN      (1u << 3)
#define RCC_APB1ENR_TIM6EN      (1u << 4)
#define RCC_APB1ENR_TIM7EN      (1u << 5)
#define RCC_APB1ENR_TIM12EN     (1u << 6)
#define RCC_APB1ENR_TIM13EN     (1u << 7)
#define RCC_APB1ENR_TIM14EN     (1u << 8)
#define RCC_APB1ENR_USART2EN    (1u << 17)
#define RCC_APB1ENR_USART3EN    (1u << 18)
#define RCC_APB1ENR_UART4EN     (1u << 19)
#define RCC_APB1ENR_UART5EN     (1u << 20)
#define RCC_APB1ENR_PWREN       (1u << 28)

#define RCC_APB2ENR_TIM1EN      (1u << 0)
#define RCC_APB2ENR_TIM8EN      (1u << 1)
#define RCC_APB2ENR_USART1EN    (1u << 4)
#define RCC_APB2ENR_USART6EN    (1u << 5)
#define RCC_APB2ENR_SYSCFGEN    (1u << 14)
#define RCC_APB2ENR_TIM9EN      (1u << 16)
#define RCC_APB2ENR_TIM10EN     (1u << 17)
#define RCC_APB2ENR_TIM11EN     (1u << 18)

#define RCC_CSR_RMVF            (1u << 24)
#define RCC_CSR_BORRSTF         (1u << 25)
#define RCC_CSR_PINRSTF         (1u << 26)
#define RCC_CSR_PORRSTF         (1u << 27)
#define RCC_CSR_SFTRSTF         (1u << 28)
#define RCC_CSR_IWDGRSTF        (1u << 29)

typedef struct {
    volatile uint32_t CR;           // 0x00
    volatile uint32_t CSR;          // 0x04
} pwr_regs_t;

#define PWR ((pwr_regs_t *)PWR_BASE)
#define PWR_CR_VOS              (1u << 14)

typedef struct {
    volatile uint32_t ACR;          // 0x00
    volatile uint32_t KEYR;         // 0x04
    volatile uint32_t OPTKEYR;      // 0x08
    volatile uint32_t SR;           // 0x0c
    volatile uint32_t CR;           // 0x10
    volatile uint32_t OPTCR;        // 0x14
} flash_regs_t;

#define FLASH ((flash_regs_t *)FLASH_R_BASE)

#define FLASH_ACR_LATENCY_Msk   (0xfu << 0)
#define FLASH_ACR_PRFTEN        (1u << 8)
#define FLASH_ACR_ICEN          (1u << 9)
#define FLASH_ACR_DCEN          (1u << 10)
#define FLASH_ACR_ICRST         (1u << 11)
#define FLASH_ACR_DCRST         (1u << 12)

#define FLASH_KEY1              (0x45670123u)
#define FLASH_KEY2              (0xcdef89abu)

#define FLASH_SR_EOP            (1u << 0)
#define FLASH_SR_OPERR          (1u << 1)
#define FLASH_SR_WRPERR         (1u << 4)
#define FLASH_SR_PGAERR         (1u << 5)
#define FLASH_SR_PGPERR         (1u << 6)
#define FLASH_SR_PGSERR         (1u << 7)
#define FLASH_SR_BSY            (1u << 16)
#define FLASH_SR_ERRORS         (FLASH_SR_OPERR | FLASH_SR_WRPERR | FLASH_SR_PGAERR \
    | FLASH_SR_PGPERR | FLASH_SR_PGSERR)

#define FLASH_CR_PG             (1u << 0)
#define FLASH_CR_SER            (1u << 1)
#define FLASH_CR_MER            (1u << 2)
#define FLASH_CR_SNB_Pos        (3)
#define FLASH_CR_SNB_Msk        (0xfu << 3)
#define FLASH_CR_PSIZE_Msk      (3u << 8)
#define FLASH_CR_PSIZE_X32      (2u << 8)
#define FLASH_CR_STRT           (1u << 16)
#define FLASH_CR_LOCK           (1u << 31)

typedef struct {
    volatile uint32_t MODER;        // 0x00
    volatile uint32_t OTYPER;       // 0x04
    volatile uint32_t OSPEEDR;      // 0x08
    volatile uint32_t PUPDR;        // 0x0c
    volatile uint32_t IDR;          // 0x10
    volatile uint32_t ODR;          // 0x14
    volatile uint32_t BSRR;         // 0x18
    volatile uint32_t LCKR;         // 0x1c
    volatile uint32_t AFR[2];       // 0x20, 0x24
} gpio_regs_t;

#define GPIO_PORT(n) ((gpio_regs_t *)(GPIOA_BASE + 0x400u * (n)))

typedef struct {
    volatile uint32_t MEMRMP;       // 0x00
    volatile uint32_t PMC;          // 0x04
    volatile uint32_t EXTICR[4];    // 0x08..0x14
    uint32_t reserved[2];
    volatile uint32_t CMPCR;        // 0x20
} syscfg_regs_t;

#define SYSCFG ((syscfg_regs_t *)SYSCFG_BASE)

typedef struct {
    volatile uint32_t IMR;          // 0x00
    volatile uint32_t EMR;          // 0x04
    volatile uint32_t RTSR;         // 0x08
    volatile uint32_t FTSR;         // 0x0c
    volatile uint32_t SWIER;        // 0x10
    volatile uint32_t PR;           // 0x14
} exti_regs_t;

#define EXTI ((exti_regs_t *)EXTI_BASE)

typedef struct {
    volatile uint32_t CR1;          // 0x00
    volatile uint32_t CR2;          // 0x04
    volatile uint32_t SMCR;         // 0x08
    volatile uint32_t DIER;         // 0x0c
    volatile uint32_t SR;           // 0x10
    volatile uint32_t EGR;          // 0x14
    volatile uint32_t CCMR1;        // 0x18
    volatile uint32_t CCMR2;        // 0x1c
    volatile uint32_t CCER;         // 0x20
    volatile uint32_t CNT;          // 0x24
    volatile uint32_t PSC;          // 0x28
    volatile uint32_t ARR;          // 0x2c
    volatile uint32_t RCR;          // 0x30
    volatile uint32_t CCR[4];       // 0x34..0x40
    volatile uint32_t BDTR;         // 0x44
    volatile uint32_t DCR;          // 0x48
    volatile uint32_t DMAR;         // 0x4c
    volatile uint32_t OR;           // 0x50
} tim_regs_t;

#define TIM_CR1_CEN             (1u << 0)
#define TIM_CR1_UDIS            (1u << 1)
#define TIM_CR1_URS             (1u << 2)
#define TIM_CR1_OPM             (1u << 3)
#define TIM_CR1_DIR             (1u << 4)
#define TIM_CR1_CMS_Msk         (3u << 5)
#define TIM_CR1_ARPE            (1u << 7)
#define TIM_CR1_CKD_Msk         (3u << 8)
#define TIM_DIER_UIE            (1u << 0)
#define TIM_DIER_CC1IE          (1u << 1)
#define TIM_SR_UIF              (1u << 0)
#define TIM_SR_CC1IF            (1u << 1)
#define TIM_EGR_UG              (1u << 0)
#define TIM_CCMR_OCM_FROZEN     (0u)
#define TIM_CCMR_OCM_ACTIVE     (1u)
#define TIM_CCMR_OCM_INACTIVE   (2u)
#define TIM_CCMR_OCM_TOGGLE     (3u)
#define TIM_CCMR_OCM_FORCE_LOW  (4u)
#define TIM_CCMR_OCM_FORCE_HIGH (5u)
#define TIM_CCMR_OCM_PWM1       (6u)
#define TIM_CCMR_OCM_PWM2       (7u)
#define TIM_CCMR_OCPE           (1u << 3)
#define TIM_BDTR_MOE            (1u << 15)

typedef struct {
    volatile uint32_t SR;           // 0x00
    volatile uint32_t DR;           // 0x04
    volatile uint32_t BRR;          // 0x08
    volatile uint32_t CR1;          // 0x0c
    volatile uint32_t CR2;          // 0x10
    volatile uint32_t CR3;          // 0x14
    volatile uint32_t GTPR;         // 0x18
} usart_regs_t;

#define USART_SR_PE             (1u << 0)
#define USART_SR_FE             (1u << 1)
#define USART_SR_NF             (1u << 2)
#define USART_SR_ORE            (1u << 3)
#define USART_SR_IDLE           (1u << 4)
#define USART_SR_RXNE           (1u << 5)
#define USART_SR_TC             (1u << 6)
#define USART_SR_TXE            (1u << 7)
#define USART_CR1_RE            (1u << 2)
#define USART_CR1_TE            (1u << 3)
#define USART_CR1_RXNEIE        (1u << 5)
#define USART_CR1_PS            (1u << 9)
#define USART_CR1_PCE           (1u << 10)
#define USART_CR1_M             (1u << 12)
#define USART_CR1_UE            (1u << 13)
#define USART_CR2_STOP_Pos      (12)
#define USART_CR2_STOP_Msk      (3u << 12)

// ---------------------------------------------------------------------------
// ADC (RM0090 §13.13) and I2C (RM0090 §27.6)

#define RCC_APB2ENR_ADC1EN      (1u << 8)
#define RCC_APB1ENR_I2C1EN      (1u << 21)
#define RCC_APB1RSTR_I2C1RST    (1u << 21)

typedef struct {
    volatile uint32_t SR;           // 0x00
    volatile uint32_t CR1;          // 0x04
    volatile uint32_t CR2;          // 0x08
    volatile uint32_t SMPR1;        // 0x0c
    volatile uint32_t SMPR2;        // 0x10
    volatile uint32_t JOFR[4];      // 0x14..0x20
    volatile uint32_t HTR;          // 0x24
    volatile uint32_t LTR;          // 0x28
    volatile uint32_t SQR1;         // 0x2c
    volatile uint32_t SQR2;         // 0x30
    volatile uint32_t SQR3;         // 0x34
    volatile uint32_t JSQR;         // 0x38
    volatile uint32_t JDR[4];       // 0x3c..0x48
    volatile uint32_t DR;           // 0x4c
} adc_regs_t;

typedef struct {
    volatile uint32_t CSR;          // 0x00
    volatile uint32_t CCR;          // 0x04
    volatile uint32_t CDR;          // 0x08
} adc_common_regs_t;

#define ADC1 ((adc_regs_t *)ADC1_BASE)
#define ADC_COMMON ((adc_common_regs_t *)ADC_BASE)

#define ADC_SR_EOC              (1u << 1)
#define ADC_SR_STRT             (1u << 4)
#define ADC_SR_OVR              (1u << 5)
#define ADC_CR1_RES_Pos         (24)
#define ADC_CR1_RES_Msk         (3u << 24)
#define ADC_CR2_ADON            (1u << 0)
#define ADC_CR2_EOCS            (1u << 10)
#define ADC_CR2_SWSTART         (1u << 30)
#define ADC_CCR_ADCPRE_Pos      (16)
#define ADC_CCR_VBATE           (1u << 22)
#define ADC_CCR_TSVREFE         (1u << 23)

typedef struct {
    volatile uint32_t CR1;          // 0x00
    volatile uint32_t CR2;          // 0x04
    volatile uint32_t OAR1;         // 0x08
    volatile uint32_t OAR2;         // 0x0c
    volatile uint32_t DR;           // 0x10
    volatile uint32_t SR1;          // 0x14
    volatile uint32_t SR2;          // 0x18
    volatile uint32_t CCR;          // 0x1c
    volatile uint32_t TRISE;        // 0x20
    volatile uint32_t FLTR;         // 0x24
} i2c_regs_t;

#define I2C_CR1_PE              (1u << 0)
#define I2C_CR1_START           (1u << 8)
#define I2C_CR1_STOP            (1u << 9)
#define I2C_CR1_ACK             (1u << 10)
#define I2C_CR1_POS             (1u << 11)
#define I2C_CR1_SWRST           (1u << 15)
#define I2C_SR1_SB              (1u << 0)
#define I2C_SR1_ADDR            (1u << 1)
#define I2C_SR1_BTF             (1u << 2)
#define I2C_SR1_RXNE            (1u << 6)
#define I2C_SR1_TXE             (1u << 7)
#define I2C_SR1_BERR            (1u << 8)
#define I2C_SR1_ARLO            (1u << 9)
#define I2C_SR1_AF              (1u << 10)
#define I2C_SR2_MSL             (1u << 0)
#define I2C_SR2_BUSY            (1u << 1)
#define I2C_CCR_DUTY            (1u << 14)
#define I2C_CCR_FS              (1u << 15)

// ---------------------------------------------------------------------------
// Cortex-M4 system control space

typedef struct {
    volatile uint32_t CTRL;         // 0xe000e010
    volatile uint32_t LOAD;
    volatile uint32_t VAL;
    volatile uint32_t CALIB;
} systick_regs_t;

#define SYSTICK ((systick_regs_t *)0xe000e010u)
#define SYSTICK_CTRL_ENABLE     (1u << 0)
#define SYSTICK_CTRL_TICKINT    (1u << 1)
#define SYSTICK_CTRL_CLKSOURCE  (1u << 2)
#define SYSTICK_CTRL_COUNTFLAG  (1u << 16)

typedef struct {
    volatile uint32_t CPUID;        // 0xe000ed00
    volatile uint32_t ICSR;         // 0xe000ed04
    volatile uint32_t VTOR;         // 0xe000ed08
    volatile uint32_t AIRCR;        // 0xe000ed0c
    volatile uint32_t SCR;          // 0xe000ed10
    volatile uint32_t CCR;          // 0xe000ed14
    volatile uint8_t SHPR[12];      // 0xe000ed18
    volatile uint32_t SHCSR;        // 0xe000ed24
    volatile uint32_t CFSR;         // 0xe000ed28
    volatile uint32_t HFSR;         // 0xe000ed2c
    volatile uint32_t DFSR;         // 0xe000ed30
    volatile uint32_t MMFAR;        // 0xe000ed34
    volatile uint32_t BFAR;         // 0xe000ed38
    volatile uint32_t AFSR;         // 0xe000ed3c
} scb_regs_t;

#define SCB ((scb_regs_t *)0xe000ed00u)
#define SCB_ICSR_PENDSTSET      (1u << 26)
#define SCB_ICSR_PENDSVSET      (1u << 28)
#define SCB_AIRCR_VECTKEY       (0x05fau << 16)
#define SCB_AIRCR_PRIGROUP_Msk  (7u << 8)
#define SCB_AIRCR_SYSRESETREQ   (1u << 2)
#define SCB_CCR_STKALIGN        (1u << 9)
#define SCB_CPACR               REG32(0xe000ed88u)
#define SCB_FPCCR               REG32(0xe000ef34u)

#define NVIC_ISER(n)            REG32(0xe000e100u + 4u * (n))
#define NVIC_ICER(n)            REG32(0xe000e180u + 4u * (n))
#define NVIC_ISPR(n)            REG32(0xe000e200u + 4u * (n))
#define NVIC_ICPR(n)            REG32(0xe000e280u + 4u * (n))
#define NVIC_IPR_BYTE(irq)      (*(volatile uint8_t *)(0xe000e400u + (irq)))

#define DEMCR                   REG32(0xe000edfcu)
#define DEMCR_TRCENA            (1u << 24)
#define DWT_CTRL                REG32(0xe0001000u)
#define DWT_CTRL_CYCCNTENA      (1u << 0)
#define DWT_CYCCNT              REG32(0xe0001004u)

// ---------------------------------------------------------------------------
// Interrupt numbers (position in the vector table after the 16 system entries)

enum {
    WWDG_IRQn = 0,
    PVD_IRQn = 1,
    TAMP_STAMP_IRQn = 2,
    RTC_WKUP_IRQn = 3,
    FLASH_IRQn = 4,
    RCC_IRQn = 5,
    EXTI0_IRQn = 6,
    EXTI1_IRQn = 7,
    EXTI2_IRQn = 8,
    EXTI3_IRQn = 9,
    EXTI4_IRQn = 10,
    EXTI9_5_IRQn = 23,
    TIM1_BRK_TIM9_IRQn = 24,
    TIM1_UP_TIM10_IRQn = 25,
    TIM1_TRG_COM_TIM11_IRQn = 26,
    TIM1_CC_IRQn = 27,
    TIM2_IRQn = 28,
    TIM3_IRQn = 29,
    TIM4_IRQn = 30,
    USART1_IRQn = 37,
    USART2_IRQn = 38,
    USART3_IRQn = 39,
    EXTI15_10_IRQn = 40,
    TIM8_BRK_TIM12_IRQn = 43,
    TIM8_UP_TIM13_IRQn = 44,
    TIM8_TRG_COM_TIM14_IRQn = 45,
    TIM8_CC_IRQn = 46,
    TIM5_IRQn = 50,
    UART4_IRQn = 52,
    UART5_IRQn = 53,
    TIM6_DAC_IRQn = 54,
    TIM7_IRQn = 55,
    USART6_IRQn = 71,
    FPU_IRQn = 81,
    NUM_IRQs = 82,
};

static inline void nvic_enable_irq(int irq) {
    NVIC_ISER(irq >> 5) = 1u << (irq & 31);
}

static inline void nvic_disable_irq(int irq) {
    NVIC_ICER(irq >> 5) = 1u << (irq & 31);
    __asm volatile ("dsb\n isb" ::: "memory");
}

static inline void nvic_clear_pending(int irq) {
    NVIC_ICPR(irq >> 5) = 1u << (irq & 31);
}

// priority is 0 (highest) .. 15 (lowest), stored in the top 4 bits
static inline void nvic_set_priority(int irq, unsigned int prio) {
    NVIC_IPR_BYTE(irq) = (uint8_t)(prio << 4);
}

static inline void systick_set_priority(unsigned int prio) {
    SCB->SHPR[11] = (uint8_t)(prio << 4); // SHPR3 bits 31:24 = SysTick
}

static inline void pendsv_set_priority(unsigned int prio) {
    SCB->SHPR[10] = (uint8_t)(prio << 4);
}

// SPI (RM0090 section 28.5).
typedef struct {
    volatile uint32_t CR1;          // 0x00
    volatile uint32_t CR2;          // 0x04
    volatile uint32_t SR;           // 0x08
    volatile uint32_t DR;           // 0x0c
    volatile uint32_t CRCPR;        // 0x10
    volatile uint32_t RXCRCR;       // 0x14
    volatile uint32_t TXCRCR;       // 0x18
    volatile uint32_t I2SCFGR;      // 0x1c
    volatile uint32_t I2SPR;        // 0x20
} spi_regs_t;

#define SPI1 ((spi_regs_t *)SPI1_BASE)
#define SPI2 ((spi_regs_t *)SPI2_BASE)
#define SPI3 ((spi_regs_t *)SPI3_BASE)

#define SPI_CR1_CPHA            (1u << 0)
#define SPI_CR1_CPOL            (1u << 1)
#define SPI_CR1_MSTR            (1u << 2)
#define SPI_CR1_BR_Pos          (3)
#define SPI_CR1_BR_Msk          (7u << 3)
#define SPI_CR1_SPE             (1u << 6)
#define SPI_CR1_LSBFIRST        (1u << 7)
#define SPI_CR1_SSI             (1u << 8)
#define SPI_CR1_SSM             (1u << 9)
#define SPI_CR1_DFF             (1u << 11)
#define SPI_SR_RXNE             (1u << 0)
#define SPI_SR_TXE              (1u << 1)
#define SPI_SR_MODF             (1u << 5)
#define SPI_SR_OVR              (1u << 6)
#define SPI_SR_BSY              (1u << 7)

#define RCC_APB2ENR_SPI1EN      (1u << 12)
#define RCC_APB1ENR_SPI2EN      (1u << 14)
#define RCC_APB1ENR_SPI3EN      (1u << 15)

// IWDG (RM0090 section 19.4).
typedef struct {
    volatile uint32_t KR;           // 0x00
    volatile uint32_t PR;           // 0x04
    volatile uint32_t RLR;          // 0x08
    volatile uint32_t SR;           // 0x0c
} iwdg_regs_t;

#define IWDG ((iwdg_regs_t *)IWDG_BASE)

#define IWDG_KR_ACCESS          (0x5555u)
#define IWDG_KR_RELOAD          (0xaaaau)
#define IWDG_KR_START           (0xccccu)
#define IWDG_SR_PVU             (1u << 0)
#define IWDG_SR_RVU             (1u << 1)
#define RCC_CSR_WWDGRSTF        (1u << 30)
#define RCC_CSR_LPWRRSTF        (1u << 31)

#endif // PYBSIM_STM32F405_H
