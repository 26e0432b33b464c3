// pybsim runtime: the analog-to-digital converter ADC1 (pyb.ADC, pyb.ADCAll, machine.ADC).

#ifndef PYBSIM_ADC_H
#define PYBSIM_ADC_H

#include "py/obj.h"
#include "pin.h"

#define ADC_CH_TEMP     (16)
#define ADC_CH_VREFINT  (17)
#define ADC_CH_VBAT     (18)
#define ADC_NUM_CH      (19)

extern const mp_obj_type_t pyb_adc_type;
extern const mp_obj_type_t pyb_adc_all_type;

// The ADC channel (0-15) of a pin, or -1 if it has none.
int adc_channel_of_pin(const pin_obj_t *pin);
// Powers ADC1 for software-started single conversions at `bits` resolution (12/10/8/6).
void adc_enable(unsigned int bits);

// Converts `channel` once at `bits` resolution.
uint32_t adc_convert_bits(uint32_t channel, unsigned int bits);
// The channel of a pyb.ADC object.
uint32_t pyb_adc_channel(mp_obj_t adc);

#endif // PYBSIM_ADC_H
