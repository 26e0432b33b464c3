// pybsim runtime: the DMA1/DMA2 stream registers (RM0090 section 10.5).

#ifndef PYBSIM_DMA_H
#define PYBSIM_DMA_H

#include "stm32f405.h"

typedef struct {
    volatile uint32_t CR;           // 0x00
    volatile uint32_t NDTR;         // 0x04
    volatile uint32_t PAR;          // 0x08
    volatile uint32_t M0AR;         // 0x0c
    volatile uint32_t M1AR;         // 0x10
    volatile uint32_t FCR;          // 0x14
} dma_stream_regs_t;

typedef struct {
    volatile uint32_t LISR;         // 0x00
    volatile uint32_t HISR;         // 0x04
    volatile uint32_t LIFCR;        // 0x08
    volatile uint32_t HIFCR;        // 0x0c
    dma_stream_regs_t S[8];         // 0x10 + 0x18 * x
} dma_regs_t;

#define DMA1 ((dma_regs_t *)DMA1_BASE)
#define DMA2 ((dma_regs_t *)DMA2_BASE)

#define RCC_AHB1ENR_DMA1EN      (1u << 21)
#define RCC_AHB1ENR_DMA2EN      (1u << 22)

#define DMA_SxCR_EN             (1u << 0)
#define DMA_SxCR_TCIE           (1u << 4)
#define DMA_SxCR_DIR_P2M        (0u << 6)
#define DMA_SxCR_DIR_M2P        (1u << 6)
#define DMA_SxCR_DIR_M2M        (2u << 6)
#define DMA_SxCR_CIRC           (1u << 8)
#define DMA_SxCR_PINC           (1u << 9)
#define DMA_SxCR_MINC           (1u << 10)
#define DMA_SxCR_PSIZE_8        (0u << 11)
#define DMA_SxCR_PSIZE_16       (1u << 11)
#define DMA_SxCR_PSIZE_32       (2u << 11)
#define DMA_SxCR_MSIZE_8        (0u << 13)
#define DMA_SxCR_MSIZE_16       (1u << 13)
#define DMA_SxCR_MSIZE_32       (2u << 13)
#define DMA_SxCR_CHSEL(c)       ((uint32_t)(c) << 25)
#define DMA_SxFCR_RESET         (0x21u)

// The five flags of stream x, at their place in LISR/HISR (and LIFCR/HIFCR).
static inline uint32_t dma_flags_mask(unsigned int x) {
    static const uint8_t shift[4] = { 0, 6, 16, 22 };
    return 0x3du << shift[x & 3];
}

// Stops stream x and waits until EN reads 0, then clears its flags.
static inline void dma_stream_stop(dma_regs_t *dma, unsigned int x) {
    dma->S[x].CR &= ~DMA_SxCR_EN;
    while (dma->S[x].CR & DMA_SxCR_EN) {
    }
    if (x < 4) {
        dma->LIFCR = dma_flags_mask(x);
    } else {
        dma->HIFCR = dma_flags_mask(x);
    }
}

#endif // PYBSIM_DMA_H
